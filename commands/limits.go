package commands

import (
	"fmt"
	"net/mail"
	"unicode"
	"unicode/utf8"

	"roster/domain"
)

// Input limits, enforced when a command is decoded (README "Limits"). Lengths are in bytes.
const (
	MaxIDLen          = 128 // ids, actors, command and correlation ids
	MaxNameLen        = 200 // names of organizations, projects, tracks, workgroups, partners, people
	MaxEmailLen       = 254 // e-mail addresses (RFC 5321 path limit)
	MaxLabelLen       = 100 // role labels, kinds, presets, scopes, categories, visibility, compute, notebook env
	MaxDescriptionLen = 1000
	MaxRoles          = 32  // roles in one list
	MaxGrants         = 64  // grants in one list
	MaxPermissions    = 256 // permissions of one role
	MaxCSVBytes       = 1000000
	MaxImportRows     = domain.MaxImportRows
	// MaxPresetVersionLen bounds UpgradePreset's preset_version ("<preset>@sha256:<64 hex>").
	MaxPresetVersionLen = domain.MaxPresetVersionLen
	MaxTimeLen          = 64 // instants such as expires_at (RFC 3339); domain.MaxMembershipTTL bounds how far ahead
)

// checkText refuses a value over max bytes, not UTF-8, or holding a character that would be
// stored invisibly or altered: a control character (C0 including NUL, ESC, BEL, CR and LF;
// DEL; C1), a Unicode format character (category Cf: bidi controls such as U+202E,
// zero-width spaces, U+FEFF...; the joiners U+200C and U+200D that scripts and emoji need are
// allowed), a line or paragraph separator (U+2028, U+2029), or
// U+FFFD, which is what the JSON decoder makes of invalid UTF-8 and lone surrogate escapes
// such as \ud800 (README "Limits").
func checkText(field, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%s is %d bytes; the limit is %d", field, len(v), max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	for i, r := range v {
		if isControl(r) {
			return fmt.Errorf("%s holds the control character %U at byte %d; control characters are not allowed", field, r, i)
		}
		if err := checkRune(field, r, i); err != nil {
			return err
		}
	}
	return nil
}

// checkRune refuses a character that would be stored invisibly or altered (all but the
// control characters checkText refuses).
func checkRune(field string, r rune, at int) error {
	if r < utf8.RuneSelf {
		return nil // no ASCII character is one of those below (an import's CSV is mostly ASCII)
	}
	switch {
	case r == utf8.RuneError:
		return fmt.Errorf("%s holds U+FFFD at byte %d (invalid UTF-8 or a lone surrogate such as \\ud800); send valid UTF-8 text", field, at)
	case r == '\u200c' || r == '\u200d':
		// ZERO WIDTH NON-JOINER and JOINER shape letters in Persian and Indic scripts and join
		// emoji sequences; they cannot reorder text the way bidi controls can.
		return nil
	case unicode.Is(unicode.Cf, r):
		return fmt.Errorf("%s holds the invisible format character %U at byte %d; format characters (bidi controls, zero-width characters, U+FEFF) are not allowed", field, r, at)
	case unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
		return fmt.Errorf("%s holds the line or paragraph separator %U at byte %d; line breaks are not allowed", field, r, at)
	case isFiller(r):
		return fmt.Errorf("%s holds the invisible filler %U at byte %d; Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) and the combining grapheme joiner U+034F are not allowed", field, r, at)
	case unicode.Is(unicode.Co, r):
		return fmt.Errorf("%s holds the private-use character %U at byte %d; private-use characters (U+E000-U+F8FF and planes 15-16) have no agreed meaning and are not allowed", field, r, at)
	}
	return nil
}

// isFiller reports the letters and marks that display as nothing though they are not format
// characters: the Hangul fillers and the combining grapheme joiner.
func isFiller(r rune) bool {
	switch r {
	case '\u115f', '\u1160', '\u3164', '\uffa0', '\u034f':
		return true
	}
	return false
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// checkNameText is checkText refusing a name that shows nothing: empty once Unicode white
// space (U+0020, U+00A0, U+3000...) and the invisible fillers are taken off. An omitted
// (empty) name is left to the command: required names are refused there, an omitted
// organization name keeps its default (README "Limits").
func checkNameText(field, v string, max int) error {
	if v != "" && isBlank(v) {
		return fmt.Errorf("%s %q is blank (only white space or invisible characters); a name must show at least one character", field, v)
	}
	return checkText(field, v, max)
}

// isBlank reports whether v holds nothing but white space and invisible fillers.
func isBlank(v string) bool {
	for _, r := range v {
		if !unicode.IsSpace(r) && !isFiller(r) {
			return false
		}
	}
	return true
}

// checkEmail refuses an e-mail address that net/mail does not parse to exactly itself (no
// display name, no comments, no header folding); empty is left to the command.
func checkEmail(field, v string) error {
	if v == "" {
		return nil
	}
	if err := checkText(field, v, MaxEmailLen); err != nil {
		return err
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Name != "" || a.Address != v {
		return fmt.Errorf("%s %q is not a plain e-mail address (like name@example.org)", field, v)
	}
	return nil
}

// checkList refuses a list of more than maxItems, or an item failing checkText.
func checkList(field string, vs []string, maxItems, maxLen int) error {
	if len(vs) > maxItems {
		return fmt.Errorf("%s has %d items; the limit is %d", field, len(vs), maxItems)
	}
	for i, v := range vs {
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), v, maxLen); err != nil {
			return err
		}
	}
	return nil
}

// checkMeta checks the fields every command carries.
func checkMeta(m domain.Meta) error {
	return first(checkText("org_id", m.OrgID, MaxIDLen), checkText("actor", m.Actor, MaxIDLen),
		checkText("command_id", m.CommandID, MaxIDLen), checkText("correlation_id", m.CorrelationID, MaxIDLen))
}

// first returns the first error.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
