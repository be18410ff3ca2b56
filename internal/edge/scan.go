package edge

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sync"
	"unicode/utf8"
)

// maxLinearKeys is how many keys of one object the scan compares linearly for duplicates;
// an object with more keys gets a set, so a wide object costs O(keys), not O(keys²).
const maxLinearKeys = 16

// cleanRequest reports, in one pass over the bytes and without decoding anything, whether
// body is a request the strict decoder accepts as it stands: one JSON object (JSON whitespace
// around it and nothing else), valid UTF-8, nested at most MaxJSONDepth deep, no key given
// twice in one object, and, in an object decoded into a struct, only keys naming one of its
// fields exactly as both checkKeys and encoding/json know them (so a clean body decodes with
// json.Unmarshal exactly as with a Decoder refusing unknown fields). A key holding an escape
// is not compared here. Such a body, like every body failing a check, is reported not clean,
// and DecodeStrict walks it with checkKeys, which finds and words the refusal (or accepts the
// rare body the pass cannot vouch for, such as one with an escaped key).
func cleanRequest(body []byte, t reflect.Type) bool {
	s := scan{data: body}
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return false
	}
	if !s.value(t) {
		return false
	}
	s.space()
	return s.pos == len(s.data)
}

// TopLevelString finds the string value of key among the members of a JSON object body, in one
// pass of the scan, stopping there: the members before it are checked and skipped, not decoded.
// False when body is not an object the pass reads as far as key, key is not a member, or its
// value is not a string written without escapes. A key holding an escape never matches.
func TopLevelString(body []byte, key string) (string, bool) {
	s := scan{data: body, depth: 1}
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return "", false
	}
	s.pos++
	for {
		k, ok := s.key()
		if !ok {
			return "", false
		}
		if string(k) == key {
			v, ok := s.string(true)
			return string(v), ok
		}
		if !s.value(nil) {
			return "", false
		}
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != ',' {
			return "", false
		}
		s.pos++
	}
}

// scan is one pass of cleanRequest.
type scan struct {
	data  []byte
	pos   int
	depth int
}

// space skips JSON whitespace.
func (s *scan) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans one value decoded into t (nil when the type does not say), the walk keeping to
// the Go type as checkKeys does.
func (s *scan) value(t reflect.Type) bool {
	if s.pos >= len(s.data) {
		return false
	}
	switch c := s.data[s.pos]; {
	case c == '{' || c == '[':
		s.depth++
		if s.depth > MaxJSONDepth {
			return false
		}
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		var ok bool
		if c == '{' {
			ok = s.object(t)
		} else {
			ok = s.array(t)
		}
		s.depth--
		return ok
	case c == '"':
		_, ok := s.string(false)
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scan) array(t reflect.Type) bool {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	s.pos++ // [
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return true
	}
	for {
		s.space()
		if !s.value(elem) {
			return false
		}
		s.space()
		if s.pos >= len(s.data) {
			return false
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return true
		default:
			return false
		}
	}
}

func (s *scan) object(t reflect.Type) bool {
	var fields map[string]reflect.Type
	var elem reflect.Type
	if t != nil && t.Kind() == reflect.Struct && t != rawMessageType {
		fields = knownFieldsOf(t)
	} else if t != nil && t.Kind() == reflect.Map {
		elem = t.Elem()
	}
	// This object's keys: up to maxLinearKeys compared linearly on the stack, then in a set.
	var few [maxLinearKeys][]byte
	n := 0
	var many map[string]struct{}
	s.pos++ // {
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return true
	}
	for {
		key, ok := s.key()
		if !ok {
			return false
		}
		if n < maxLinearKeys {
			for _, k := range few[:n] {
				if bytes.Equal(k, key) {
					return false
				}
			}
			few[n] = key
			n++
		} else {
			if many == nil {
				many = make(map[string]struct{}, 2*maxLinearKeys)
				for _, k := range few {
					many[string(k)] = struct{}{}
				}
			}
			if _, dup := many[string(key)]; dup {
				return false
			}
			many[string(key)] = struct{}{}
		}
		next := elem
		if fields != nil {
			ft, known := fields[string(key)]
			if !known {
				return false
			}
			next = ft
		}
		if !s.value(next) {
			return false
		}
		s.space()
		if s.pos >= len(s.data) {
			return false
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return true
		default:
			return false
		}
	}
}

// key scans an object member's key and the colon after it, up to its value; a key holding an
// escape is refused (string).
func (s *scan) key() ([]byte, bool) {
	s.space()
	k, ok := s.string(true)
	if !ok {
		return nil, false
	}
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return nil, false
	}
	s.pos++
	s.space()
	return k, true
}

// string scans a string and returns its bytes between the quotes. A key (key true) holding an
// escape is refused, since its bytes are not the key it names.
func (s *scan) string(key bool) ([]byte, bool) {
	data, i := s.data, s.pos
	if i >= len(data) || data[i] != '"' {
		return nil, false
	}
	i++
	start := i
	for i < len(data) {
		switch c := data[i]; {
		case c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\':
			i++
		case c == '"':
			s.pos = i + 1
			return data[start:i], true
		case c == '\\':
			s.pos = i
			if key || !s.escape() {
				return nil, false
			}
			i = s.pos
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n == 1 {
				return nil, false
			}
			i += n
		default: // a control character
			return nil, false
		}
	}
	return nil, false
}

// escape scans one escape sequence (\" \\ \/ \b \f \n \r \t \uXXXX) at s.pos.
func (s *scan) escape() bool {
	if s.pos+1 >= len(s.data) {
		return false
	}
	switch s.data[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return true
	case 'u':
		if s.pos+6 > len(s.data) {
			return false
		}
		for _, h := range s.data[s.pos+2 : s.pos+6] {
			if !isHex(h) {
				return false
			}
		}
		s.pos += 6
		return true
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scan) number() bool {
	if s.data[s.pos] == '-' {
		s.pos++
	}
	if s.pos >= len(s.data) {
		return false
	}
	switch c := s.data[s.pos]; {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return false
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits skips decimal digits and says how many.
func (s *scan) digits() int {
	start := s.pos
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

func (s *scan) literal(word string) bool {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return false
	}
	s.pos += len(word)
	return true
}

// knownFields caches, per struct type, the keys of fieldsOf that encoding/json also decodes
// into a field of the type.
var knownFields sync.Map // reflect.Type -> map[string]reflect.Type

// knownFieldsOf is fieldsOf(t) less any key encoding/json would call unknown. The two agree
// on every request type; should a type ever make them differ (a name conflict between embedded
// structs, an embedded pointer to an unexported struct), bodies using the key take the checked
// walk, whose Decoder refuses unknown fields, rather than being decoded without that check.
// Each key is asked of encoding/json once per type, by decoding {"key":null} into a new value.
func knownFieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := knownFields.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for name, ft := range fieldsOf(t) {
		probe, err := json.Marshal(map[string]any{name: nil})
		if err != nil {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(probe))
		dec.DisallowUnknownFields()
		if dec.Decode(reflect.New(t).Interface()) == nil {
			m[name] = ft
		}
	}
	knownFields.Store(t, m)
	return m
}
