// Package errs makes the launcher's error values without package fmt: fmt's
// reflection adds about 190 KB to a binary whose size is a goal (2 MiB) on the small
// machines it is for. Messages read as fmt.Errorf("%s: %w") would make them.
package errs

// Wrap returns an error whose text is "msg: " followed by err's, and which unwraps
// to err, so that errors.Is and errors.As see through it.
func Wrap(msg string, err error) error { return &wrapped{msg, err} }

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }
