package domain

import (
	"errors"
	"fmt"
)

// Code classifies a refusal; the wire layer maps it to API.md's error codes.
type Code string

// The refusal codes of API.md.
const (
	CodeInvalid            Code = "invalid"
	CodeNotFound           Code = "not_found"
	CodeForbidden          Code = "forbidden"
	CodeConflict           Code = "conflict"
	CodePreconditionFailed Code = "precondition_failed"
	CodeUnavailable        Code = "unavailable"
)

// Sentinels, one per code, for errors.Is.
var (
	ErrInvalid            = errors.New(string(CodeInvalid))
	ErrNotFound           = errors.New(string(CodeNotFound))
	ErrForbidden          = errors.New(string(CodeForbidden))
	ErrConflict           = errors.New(string(CodeConflict))
	ErrPreconditionFailed = errors.New(string(CodePreconditionFailed))
	ErrUnavailable        = errors.New(string(CodeUnavailable))
)

// Error is a refused command or query: a code and a message naming what to change.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is matches the sentinel of the same code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.Code == CodeInvalid
	case ErrNotFound:
		return e.Code == CodeNotFound
	case ErrForbidden:
		return e.Code == CodeForbidden
	case ErrConflict:
		return e.Code == CodeConflict
	case ErrPreconditionFailed:
		return e.Code == CodePreconditionFailed
	case ErrUnavailable:
		return e.Code == CodeUnavailable
	}
	return false
}

func newErr(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) error   { return newErr(CodeInvalid, format, args...) }
func notFoundf(format string, args ...any) error  { return newErr(CodeNotFound, format, args...) }
func forbiddenf(format string, args ...any) error { return newErr(CodeForbidden, format, args...) }
func conflictf(format string, args ...any) error  { return newErr(CodeConflict, format, args...) }
func preconditionf(format string, args ...any) error {
	return newErr(CodePreconditionFailed, format, args...)
}

// CodeOf returns the code of a domain error, or "" for any other error.
func CodeOf(err error) Code {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}
