package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// MaxJSONDepth is how deeply a request's JSON may nest objects and arrays, the request's own
// object counting as one (README "Limits"). Roster's request types nest at most four levels
// (a command, its track, a list, an item); the check stops at the first container past the
// limit, so a deeply nested body costs no more than a flat one of the same size.
const MaxJSONDepth = 16

// maxPathInError bounds how much of a key path an error message quotes.
const maxPathInError = 200

// checkKeys walks a request's JSON alongside the Go type it decodes into and refuses a key
// given twice in one object, a key that names a field only when matched without regard
// to case (encoding/json matches keys case-insensitively and keeps the last duplicate, so
// "Actor" or a second "actor" would otherwise slip past a gateway that checked the first),
// and nesting deeper than MaxJSONDepth. Unknown keys are left to the decoder's
// DisallowUnknownFields. DecodeStrict walks only the bodies cleanRequest's single pass does
// not find clean, so this walk is what words every refusal.
func checkKeys(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := walker{dec: dec}
	return w.value(t)
}

// walker walks one JSON document; path holds the keys and indexes leading to the value being
// walked, turned into a string only when an error names it.
type walker struct {
	dec  *json.Decoder
	path []step
}

// step is one key (index < 0) or array index on the way to a value.
type step struct {
	key   string
	index int
}

// where is the dotted path of the value being walked, with key appended when not empty
// (roles[0], track.name).
func (w *walker) where(key string) string {
	var b strings.Builder
	for _, s := range w.path {
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	if key != "" {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(key)
	}
	return truncatePath(b.String())
}

// truncatePath shortens a path quoted in an error to maxPathInError bytes (on a rune boundary).
func truncatePath(s string) string {
	if len(s) <= maxPathInError {
		return s
	}
	cut := maxPathInError
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func (w *walker) value(t reflect.Type) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	// The container just opened is at depth len(path)+1.
	if len(w.path) >= MaxJSONDepth {
		return fmt.Errorf("the request nests objects and arrays more than %d levels deep (at %q); the limit MaxJSONDepth is %d", MaxJSONDepth, w.where(""), MaxJSONDepth)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch d {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		w.path = append(w.path, step{index: 0})
		for i := 0; w.dec.More(); i++ {
			w.path[len(w.path)-1].index = i
			if err := w.value(elem); err != nil {
				return err
			}
		}
		w.path = w.path[:len(w.path)-1]
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil && t.Kind() == reflect.Struct && t != rawMessageType {
			fields = fieldsOf(t)
		} else if t != nil && t.Kind() == reflect.Map {
			elem = t.Elem()
		}
		seen := map[string]bool{}
		w.path = append(w.path, step{index: -1})
		for w.dec.More() {
			tok, err := w.dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			if seen[key] {
				w.path = w.path[:len(w.path)-1]
				return fmt.Errorf("key %q appears twice; give each key once", w.where(key))
			}
			seen[key] = true
			next := elem
			if fields != nil {
				ft, ok := fields[key]
				if !ok {
					for name := range fields {
						if strings.EqualFold(name, key) {
							w.path = w.path[:len(w.path)-1]
							return fmt.Errorf("key %q must be spelled %q (keys are case-sensitive)", w.where(key), w.where(name))
						}
					}
				}
				next = ft
			}
			w.path[len(w.path)-1].key = key
			if err := w.value(next); err != nil {
				return err
			}
		}
		w.path = w.path[:len(w.path)-1]
	}
	_, err = w.dec.Token() // the closing delimiter
	return err
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// fieldNames caches each struct type's JSON keys (embedded structs inlined, as encoding/json does).
var fieldNames sync.Map // reflect.Type -> map[string]reflect.Type

func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldNames.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	collectFields(t, m)
	fieldNames.Store(t, m)
	return m
}

func collectFields(t reflect.Type, m map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, m)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
}

var errNotObject = errors.New("malformed JSON: the request must be a JSON object")
