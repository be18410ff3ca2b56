package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"unicode/utf8"

	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
)

// StreamOf is the log stream of an organization.
func StreamOf(orgID string) string { return "org-" + orgID }

// Refusal is a request refused at the edge, with its wire code.
type Refusal struct {
	Code    string
	Message string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

// Refuse builds a refusal.
func Refuse(code, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WireCode maps a domain code to the wire's code.
func WireCode(c domain.Code) string {
	switch c {
	case domain.CodeInvalid:
		return client.CodeInvalid
	case domain.CodeNotFound:
		return client.CodeNotFound
	case domain.CodeForbidden:
		return client.CodeForbidden
	case domain.CodeConflict:
		return client.CodeConflict
	case domain.CodePreconditionFailed:
		return client.CodePreconditionFailed
	}
	return client.CodeUnavailable
}

// notFound is implemented by the errors of layers that know nothing of the wire (the views'
// OrgNotFoundError) and mean "not found".
type notFound interface {
	error
	NotFound() bool
}

// CodeOf maps any error to a wire code and message: refusals and domain errors keep
// theirs, an error marked NotFound is not_found; a cancelled or stopping request and any other error are unavailable.
func CodeOf(err error) (string, string) {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code, r.Message
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return WireCode(de.Code), de.Message
	}
	var nf notFound
	if errors.As(err, &nf) && nf.NotFound() {
		return client.CodeNotFound, nf.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, eventstore.ErrClosed) {
		return client.CodeUnavailable, "the service is busy or stopping; retry: " + err.Error()
	}
	return client.CodeUnavailable, "internal error; retry later: " + err.Error()
}

// DecodeStrict decodes one JSON object and refuses unknown fields, keys in the wrong case,
// duplicate keys, nesting deeper than MaxJSONDepth, invalid UTF-8 and trailing data.
//
// A body that cleanRequest finds clean in its single pass is decoded at once; any other body
// takes the walk of checkKeys, which names what is wrong (or accepts the few bodies the pass
// leaves to it, such as a key written with escapes), so every refusal reads as it always has.
func DecodeStrict(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errors.New("empty body; send a JSON object")
	}
	if trimmed[0] != '{' {
		return errNotObject
	}
	if cleanRequest(body, reflect.TypeOf(v)) {
		// Clean: a single valid object, so Unmarshal (which copies nothing) decodes it as the
		// Decoder below would.
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		return nil
	}
	// encoding/json turns invalid UTF-8 into U+FFFD without a word; a request must be UTF-8
	// (RFC 8259) and one that is not is refused rather than stored altered.
	if !utf8.Valid(body) {
		return fmt.Errorf("the request is not valid UTF-8 (first bad byte at offset %d); send UTF-8 JSON", firstInvalidUTF8(body))
	}
	if err := checkKeys(body, reflect.TypeOf(v)); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	// Decoder.More does not count a stray '}' or ']' as more: look at the bytes themselves.
	if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return errors.New("malformed JSON: trailing data after the object")
	}
	return nil
}

// firstInvalidUTF8 is the offset of the first byte of b that does not start a valid UTF-8
// sequence (len(b) when there is none).
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// CheckID refuses an id that is missing (when required) or not a valid id.
func CheckID(field, v string, required bool) error {
	if v == "" {
		if required {
			return Refuse(client.CodeInvalid, "%s is required", field)
		}
		return nil
	}
	if !domain.ValidID(v) {
		return Refuse(client.CodeInvalid, "%s", BadID(field, v))
	}
	return nil
}

// BadID is the message refusing an invalid id.
func BadID(field, v string) string {
	return fmt.Sprintf("%s %q must be 1-128 characters of A-Z a-z 0-9 _ -", field, v)
}

// ErrorBody is the reply body and code of an error.
func ErrorBody(err error) ([]byte, string) {
	code, msg := CodeOf(err)
	return client.ErrorReply(code, msg), code
}

// Respond sends a reply body, as a micro error when code is set.
func Respond(req micro.Request, body []byte, code string) {
	if code == "" {
		_ = req.Respond(body)
		return
	}
	_ = req.Error(strconv.Itoa(client.StatusOf(code)), code, body)
}
