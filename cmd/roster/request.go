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
	"time"

	"github.com/google/uuid"
)

// request collects one command's or query's fields from its flags.
type request struct {
	fields map[string]any
	stdin  io.Reader
	now    func() time.Time
}

func newRequest(stdin io.Reader, now func() time.Time) *request {
	return &request{fields: map[string]any{}, stdin: stdin, now: now}
}

// fieldFlag is the pflag.Value of one request field.
type fieldFlag struct {
	req  *request
	spec flagSpec
}

func (f *fieldFlag) String() string { return "" }

func (f *fieldFlag) Type() string {
	switch f.spec.Kind {
	case kindList:
		return "strings"
	case kindNumber:
		return "int"
	case kindBool:
		return "bool"
	case kindObject:
		return "key=value"
	}
	if isFileField(f.spec.Field) {
		return "@file"
	}
	if isTimeField(f.spec.Field) {
		return "time"
	}
	return "string"
}

func (f *fieldFlag) Set(val string) error { return f.req.set(f.spec, val) }

// usage is the flag's help line.
func (s flagSpec) usage() string {
	var parts []string
	switch {
	case isFileField(s.Field):
		parts = append(parts, "a file: @path (@- reads stdin; @@x is the literal @x)")
	case isTimeField(s.Field):
		parts = append(parts, "RFC 3339 or a time ago: 30m, 2h, 7d")
	case s.Kind == kindList:
		parts = append(parts, "comma-separated list, repeatable")
	case s.Kind == kindObject:
		parts = append(parts, "k=v,k=v or a JSON object, repeatable")
	}
	if s.Parent != "" {
		parts = append(parts, s.Parent+"."+s.Field)
	}
	if s.Required {
		parts = append(parts, "(required)")
	}
	return strings.Join(parts, "; ")
}

// set records one flag value as its field's JSON value.
func (r *request) set(s flagSpec, val string) error {
	if strings.HasPrefix(val, "--") && s.Kind != kindBool {
		return fmt.Errorf("needs a value (use --%s= for an empty one)", s.Flag)
	}
	if isFileField(s.Field) {
		v, err := r.expandFile(val)
		if err != nil {
			return err
		}
		val = v
	}
	if isTimeField(s.Field) {
		v, err := resolveTime(val, r.now())
		if err != nil {
			return err
		}
		val = v
	}
	out := r.fields
	if s.Parent != "" {
		sub, _ := out[s.Parent].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			out[s.Parent] = sub
		}
		out = sub
	}
	return setField(out, s.Field, s.Kind, val)
}

// expandFile reads @path (@- is stdin); @@x stands for the literal @x; anything else is literal.
func (r *request) expandFile(val string) (string, error) {
	if strings.HasPrefix(val, "@@") {
		return val[1:], nil
	}
	if !strings.HasPrefix(val, "@") || len(val) == 1 {
		return val, nil
	}
	b, err := readValueFile(val[1:], r.stdin)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func setField(out map[string]any, field string, kind fieldKind, val string) error {
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

// resolveTime accepts RFC 3339 (kept as given) or a time ago (7d, 2w, or a Go duration such
// as 2h, 30m or 1h30m), turned into RFC 3339 in UTC relative to now.
func resolveTime(val string, now time.Time) (string, error) {
	v := strings.TrimSpace(val)
	if v == "" {
		return val, nil
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return v, nil
	}
	var d time.Duration
	days := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if unit, ok := days[v[len(v)-1]]; ok {
		n, err := strconv.ParseUint(v[:len(v)-1], 10, 32)
		if err != nil {
			return "", fmt.Errorf("%q is neither RFC 3339 nor a time ago such as 30m, 2h or 7d", val)
		}
		d = time.Duration(n) * unit
	} else {
		pd, err := time.ParseDuration(v)
		if err != nil || pd < 0 {
			return "", fmt.Errorf("%q is neither RFC 3339 nor a time ago such as 30m, 2h or 7d", val)
		}
		d = pd
	}
	return now.Add(-d).UTC().Format(time.RFC3339Nano), nil
}

// body builds the request JSON: the optional JSON argument ('{…}', - for stdin, @file.json)
// with the flags laid over it. A command gets a generated command_id (UUIDv7) unless it has
// one; the id sent is returned ("" for a query).
func (r *request) body(o op, args []string) ([]byte, string, error) {
	var base map[string]any
	if len(args) > 1 {
		return nil, "", fmt.Errorf("unexpected argument %q: give one JSON object ('{…}', - for stdin, @file) or --field value pairs", args[1])
	}
	if len(args) == 1 {
		raw, err := readBase(args[0], r.stdin)
		if err != nil {
			return nil, "", err
		}
		if base, err = decodeObject(raw); err != nil {
			return nil, "", err
		}
		if len(r.fields) == 0 && (o.Query || hasString(base, "command_id")) {
			// Pure passthrough: keep the caller's JSON as written (only compacted).
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return nil, "", fmt.Errorf("request JSON: %w", err)
			}
			return buf.Bytes(), stringField(base, "command_id"), checkRequired(o, base)
		}
	}
	if base == nil {
		base = map[string]any{}
	}
	for k, v := range r.fields {
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
	if err := checkRequired(o, base); err != nil {
		return nil, "", err
	}
	id := ""
	if !o.Query {
		if !hasString(base, "command_id") {
			u, err := uuid.NewV7()
			if err != nil {
				return nil, "", fmt.Errorf("generate command_id: %w", err)
			}
			base["command_id"] = u.String()
		}
		id = stringField(base, "command_id")
	}
	b, err := json.Marshal(base)
	if err != nil {
		return nil, "", fmt.Errorf("encode request: %w", err)
	}
	return b, id, nil
}

func hasString(m map[string]any, k string) bool { return stringField(m, k) != "" }

func stringField(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// checkRequired reports the required fields missing from the request, as flags.
func checkRequired(o op, req map[string]any) error {
	var missing []string
	for _, s := range o.Flags {
		if _, ok := req[s.Field]; s.Required && !ok {
			missing = append(missing, "--"+s.Flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("required flag(s) %s not set (see roster help %s)", strings.Join(missing, ", "), o.Name)
	}
	return nil
}

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
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
