package client

import (
	"encoding/json"
	"fmt"
)

// Subject prefixes of the wire contract (API.md).
const (
	CommandPrefix = "roster.cmd."
	QueryPrefix   = "roster.query."
	EventPrefix   = "roster.events."
	ServiceName   = "roster"
	EventStream   = "ROSTER_EVENTS"
)

// Error codes of API.md.
const (
	CodeInvalid            = "invalid"
	CodeNotFound           = "not_found"
	CodeForbidden          = "forbidden"
	CodeConflict           = "conflict"
	CodePreconditionFailed = "precondition_failed"
	CodeUnavailable        = "unavailable"
)

// StatusOf maps an error code to the micro error header value (Nats-Service-Error-Code).
func StatusOf(code string) int {
	switch code {
	case CodeInvalid:
		return 400
	case CodeNotFound:
		return 404
	case CodeForbidden:
		return 403
	case CodeConflict:
		return 409
	case CodePreconditionFailed:
		return 412
	}
	return 503
}

// ErrorBody is the error object of a refused request.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is a refusal returned by the client; it carries the wire code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// EventRef names an appended event in a command reply.
type EventRef struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Position uint64 `json:"position"`
}

// PlannedEvent is an event a dry run would append.
type PlannedEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// PermissionChange says who would gain or lose which permissions (dry runs).
type PermissionChange struct {
	UserID    string   `json:"user_id"`
	ProjectID string   `json:"project_id,omitempty"`
	TrackID   string   `json:"track_id,omitempty"`
	Gained    []string `json:"gained,omitempty"`
	Lost      []string `json:"lost,omitempty"`
}

// CommandReply is the reply to roster.cmd.<Command>.
type CommandReply struct {
	OK       bool               `json:"ok"`
	Position uint64             `json:"position"`
	Events   []EventRef         `json:"events,omitempty"`
	Result   json.RawMessage    `json:"result,omitempty"`
	DryRun   bool               `json:"dry_run,omitempty"`
	Planned  []PlannedEvent     `json:"planned,omitempty"`
	Changes  []PermissionChange `json:"changes,omitempty"`
	Error    *ErrorBody         `json:"error,omitempty"`
}

// QueryReply is the reply to roster.query.<Query>.
type QueryReply struct {
	OK       bool            `json:"ok"`
	Position uint64          `json:"position"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    *ErrorBody      `json:"error,omitempty"`
}

// ErrorReply builds the body of a refusal.
func ErrorReply(code, message string) []byte {
	b, _ := json.Marshal(struct {
		OK    bool      `json:"ok"`
		Error ErrorBody `json:"error"`
	}{Error: ErrorBody{Code: code, Message: message}})
	return b
}
