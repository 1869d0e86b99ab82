package launch

// Everything launch tells the user about a failure goes through this file: one line
// "launch: error: <what failed>: <path or value>: <reason>", optionally followed by
// "launch: hint: ...", and the exit status of the CLI contract. Warnings are one line
// "launch: warning: ...", a hint may follow them too. Nothing else prints errors, and
// no error ends in a panic.

import (
	"errors"
	"io"
	"strings"
)

// Exit statuses of launch's own failures (README, "Usage"), as docker run has.
const (
	ExitFailure    = 125 // launch failed or was misused
	ExitCannotExec = 126 // COMMAND exists but cannot be executed
	ExitNotFound   = 127 // COMMAND is not in the container
)

// An Error is a failure of launch with the exit status it ends in and an optional
// hint on what to do.
type Error struct {
	Code int
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// A StepError is the failure of one step, printed as the contract asks:
// "<what failed>: <path or value>: <reason>".
type StepError struct {
	What string
	Path string
	Err  error
}

func (e *StepError) Error() string {
	if e.Path == "" {
		return e.What + ": " + e.Err.Error()
	}
	return e.What + ": " + e.Path + ": " + e.Err.Error()
}

func (e *StepError) Unwrap() error { return e.Err }

// fail returns an Error with status code.
func fail(code int, msg string) *Error { return &Error{Code: code, Err: errors.New(msg)} }

// Report prints err for the user and returns the exit status it ends in: the Error's
// code, ExitFailure for anything else.
func Report(w io.Writer, err error) int {
	code, h := ExitFailure, ""
	var e *Error
	if errors.As(err, &e) {
		code, h = e.Code, e.Hint
	}
	var u *UsageError
	if errors.As(err, &u) {
		h = "see launch --help"
	}
	// One line, whatever the error's text holds.
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	io.WriteString(w, "launch: error: "+msg+"\n")
	if h != "" {
		hint(w, h)
	}
	return code
}

// warn prints a warning.
func warn(w io.Writer, msg string) { io.WriteString(w, "launch: warning: "+msg+"\n") }

// hint prints what to do about the error or the warnings before it.
func hint(w io.Writer, msg string) { io.WriteString(w, "launch: hint: "+msg+"\n") }

// note prints something -v shows.
func note(w io.Writer, msg string) { io.WriteString(w, "launch: note: "+msg+"\n") }
