package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// fieldKind says how a --field value becomes JSON.
type fieldKind int

const (
	kindString fieldKind = iota
	kindList             // comma-separated → array of strings
	kindNumber           // integer → number
	kindBool             // flag alone, or true/false → boolean
	kindObject           // k=v,k=v or a JSON object → object
)

func kindOf(field string) fieldKind {
	switch field {
	case "roles", "grants", "permissions", "previous_owner_roles", "types":
		return kindList
	case "min_position", "wait_ms", "limit", "position", "after_position":
		return kindNumber
	case "dry_run", "include_archived", "explain", "digests":
		return kindBool
	case "context", "track":
		return kindObject
	}
	return kindString
}

// trackField maps CreateProject's flat flags to the fields of its nested track object.
func trackField(field string) (string, bool) {
	switch field {
	case "track_id", "compute", "notebook_env":
		return field, true
	case "track_name":
		return "name", true
	}
	return "", false
}

// buildRequest turns the arguments after the command or query name into the request's JSON.
// The arguments are either nothing ({}), or one JSON object ('{…}', '-' for stdin, '@file'),
// optionally followed by --field value pairs that are laid over it, or only --field value pairs.
func buildRequest(name string, args []string, stdin io.Reader) ([]byte, error) {
	var base map[string]any
	rest := args
	if len(args) > 0 && !isFlag(args[0]) {
		raw, err := readBase(args[0], stdin)
		if err != nil {
			return nil, err
		}
		rest = args[1:]
		if len(rest) == 0 {
			// Pure passthrough: keep the caller's JSON as written (only compacted).
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return nil, fmt.Errorf("request JSON: %w", err)
			}
			return buf.Bytes(), nil
		}
		if base, err = decodeObject(raw); err != nil {
			return nil, err
		}
	}
	fields, err := parseFields(name, rest, stdin)
	if err != nil {
		return nil, err
	}
	if base == nil {
		base = map[string]any{}
	}
	for k, v := range fields {
		if sub, ok := v.(map[string]any); ok {
			if old, ok := base[k].(map[string]any); ok {
				for sk, sv := range sub {
					old[sk] = sv
				}
				continue
			}
		}
		base[k] = v
	}
	return json.Marshal(base)
}

func isFlag(arg string) bool { return len(arg) > 1 && arg[0] == '-' }

// readBase reads the JSON object argument: inline, '-' (stdin) or '@path'.
func readBase(arg string, stdin io.Reader) ([]byte, error) {
	var raw []byte
	switch {
	case arg == "-":
		if stdin == nil {
			return nil, errors.New("no standard input to read the request from")
		}
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, errors.New("standard input is empty; expected a JSON object")
		}
		raw = b
	case strings.HasPrefix(arg, "@"):
		b, err := readValueFile(arg[1:], stdin)
		if err != nil {
			return nil, err
		}
		raw = b
	case strings.HasPrefix(strings.TrimSpace(arg), "{"):
		raw = []byte(arg)
	default:
		return nil, fmt.Errorf("unexpected argument %q: give one JSON object ('{…}', - for stdin, @file) or --field value pairs", arg)
	}
	if _, err := decodeObject(raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// decodeObject checks that raw is exactly one JSON object and decodes it, keeping numbers exact.
func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("request JSON: %w", err)
	}
	if obj == nil {
		return nil, errors.New("request JSON: expected an object, got null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("request JSON: trailing data after the object")
	}
	return obj, nil
}

// parseFields turns --field value pairs into request fields.
func parseFields(name string, args []string, stdin io.Reader) (map[string]any, error) {
	out := map[string]any{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !isFlag(arg) {
			return nil, fmt.Errorf("unexpected argument %q: a JSON object goes first and alone; after it only --field value pairs", arg)
		}
		key, val, hasVal := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		field := fieldName(key)
		if field == "" {
			return nil, fmt.Errorf("bad flag %q", arg)
		}
		kind := kindOf(field)
		if !hasVal {
			next := ""
			if i+1 < len(args) {
				next = args[i+1]
			}
			switch {
			case kind == kindBool:
				val = "true"
				if next == "true" || next == "false" {
					val = next
					i++
				}
			case i+1 >= len(args) || strings.HasPrefix(next, "--"):
				return nil, fmt.Errorf("--%s needs a value (use --%s= for an empty one)", key, key)
			default:
				val = next
				i++
			}
		}
		val, err := expandValue(field, val, stdin)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", key, err)
		}
		if err := setField(out, name, field, kind, val); err != nil {
			return nil, fmt.Errorf("--%s: %w", key, err)
		}
	}
	return out, nil
}

// fieldName maps a flag to a JSON field: --org-id and --org_id are both org_id.
func fieldName(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// expandValue reads @path values (@- is stdin); @@x stands for the literal @x.
func expandValue(field, val string, stdin io.Reader) (string, error) {
	if strings.HasPrefix(val, "@@") {
		return val[1:], nil
	}
	if !strings.HasPrefix(val, "@") || len(val) == 1 {
		return val, nil
	}
	b, err := readValueFile(val[1:], stdin)
	if err != nil {
		return "", err
	}
	s := string(b)
	if field != "csv" {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
	}
	return s, nil
}

func readValueFile(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		if stdin == nil {
			return nil, errors.New("no standard input to read")
		}
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func setField(out map[string]any, name, field string, kind fieldKind, val string) error {
	if sub, ok := trackField(field); ok && name == "CreateProject" {
		track, _ := out["track"].(map[string]any)
		if track == nil {
			track = map[string]any{}
			out["track"] = track
		}
		if _, dup := track[sub]; dup {
			return errors.New("given twice")
		}
		track[sub] = val
		return nil
	}
	switch kind {
	case kindList:
		list, _ := out[field].([]string)
		if list == nil {
			list = []string{}
		}
		out[field] = append(list, splitList(val)...)
		return nil
	case kindObject:
		obj, err := parseObject(val)
		if err != nil {
			return err
		}
		old, _ := out[field].(map[string]any)
		if old == nil {
			out[field] = obj
			return nil
		}
		for k, v := range obj {
			old[k] = v
		}
		return nil
	}
	if _, dup := out[field]; dup {
		return errors.New("given twice")
	}
	switch kind {
	case kindNumber:
		s := strings.TrimSpace(val)
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			if _, err := strconv.ParseUint(s, 10, 64); err != nil {
				return fmt.Errorf("%q is not a whole number", val)
			}
		}
		out[field] = json.Number(s)
	case kindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%q is not true or false", val)
		}
		out[field] = b
	default:
		out[field] = val
	}
	return nil
}

func splitList(val string) []string {
	out := []string{}
	for _, s := range strings.Split(val, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseObject reads a JSON object, or k=v pairs separated by commas (values are strings).
func parseObject(val string) (map[string]any, error) {
	if strings.HasPrefix(strings.TrimSpace(val), "{") {
		return decodeObject([]byte(val))
	}
	obj := map[string]any{}
	for _, pair := range strings.Split(val, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", pair)
		}
		obj[k] = strings.TrimSpace(v)
	}
	return obj, nil
}
