package resp

import (
	"errors"
	"strings"
)

// Error is an error reply from the server (a simple error or a RESP3 bulk error), split into its
// Prefix — the upper-case code that starts it, such as MOVED, WRONGTYPE or ERR — and the rest.
//
// Is matches on the prefix: errors.Is(err, ErrMoved) holds for every MOVED reply, whatever its
// message. An Error is immutable and safe for concurrent use.
type Error struct {
	Prefix string // the error code, e.g. "MOVED"; "" when the text starts with no upper-case word
	Msg    string // the text after the prefix
}

// Error returns the error as the server wrote it.
func (e *Error) Error() string { return joinError(e.Prefix, e.Msg) }

// Is reports whether target is an *Error with the same prefix. A target with an empty prefix
// matches nothing, so errors.Is(err, &Error{}) is false.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Prefix != "" && t.Prefix == e.Prefix
}

// Sentinels for the server errors a cluster client meets. Compare with errors.Is.
var (
	ErrMoved       = &Error{Prefix: "MOVED"}
	ErrAsk         = &Error{Prefix: "ASK"}
	ErrTryAgain    = &Error{Prefix: "TRYAGAIN"}
	ErrClusterDown = &Error{Prefix: "CLUSTERDOWN"}
	ErrLoading     = &Error{Prefix: "LOADING"}
	ErrCrossSlot   = &Error{Prefix: "CROSSSLOT"}
	ErrWrongType   = &Error{Prefix: "WRONGTYPE"}
	ErrNoScript    = &Error{Prefix: "NOSCRIPT"}
	ErrNoAuth      = &Error{Prefix: "NOAUTH"}
	ErrWrongPass   = &Error{Prefix: "WRONGPASS"}
	ErrReadOnly    = &Error{Prefix: "READONLY"}
	ErrMasterDown  = &Error{Prefix: "MASTERDOWN"}
	ErrBusy        = &Error{Prefix: "BUSY"}
	ErrNoPerm      = &Error{Prefix: "NOPERM"}
	ErrExecAbort   = &Error{Prefix: "EXECABORT"}
	ErrGeneric     = &Error{Prefix: "ERR"}
)

// ErrUnexpectedType is matched by the errors Value's accessors return when a value is of another
// kind than asked for (Int64 of an array, say).
var ErrUnexpectedType = errors.New("resp: unexpected type")

// ParseError splits an error reply's text into an *Error. The prefix is the first word when it is
// made of upper-case letters, digits, '_' or '-'; otherwise the prefix is empty and Msg holds it all.
func ParseError(text string) *Error {
	word, rest, _ := strings.Cut(text, " ")
	if !isErrorCode(word) {
		return &Error{Msg: text}
	}
	return &Error{Prefix: word, Msg: rest}
}

func isErrorCode(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func joinError(prefix, msg string) string {
	switch {
	case prefix == "":
		return msg
	case msg == "":
		return prefix
	}
	return prefix + " " + msg
}

// ProtocolError reports a reply that breaks the RESP protocol or the Reader's Limits. After one,
// the stream is out of step and the connection must be closed. Match the kind of violation with
// errors.Is against ErrProtocol, ErrBulkTooLong, ErrAggregateTooLong, ErrTooDeep or ErrLineTooLong.
// It is immutable and safe for concurrent use.
type ProtocolError struct {
	Kind   error  // one of the sentinels above
	Detail string // what was read, for the log
}

func (e *ProtocolError) Error() string { return e.Kind.Error() + ": " + e.Detail }

// Unwrap returns the sentinel naming the kind of violation.
func (e *ProtocolError) Unwrap() error { return e.Kind }

// Kinds of protocol violations, wrapped by *ProtocolError.
var (
	ErrProtocol         = errors.New("resp: protocol error")
	ErrBulkTooLong      = errors.New("resp: bulk string longer than the limit")
	ErrAggregateTooLong = errors.New("resp: aggregate larger than the limit")
	ErrTooDeep          = errors.New("resp: nesting deeper than the limit")
	ErrLineTooLong      = errors.New("resp: line longer than the limit")
)

// BrokeLimits reports whether err is a reply that broke the Reader's Limits (ErrBulkTooLong,
// ErrAggregateTooLong, ErrTooDeep or ErrLineTooLong), not a malformed one: the same command would
// get the same reply again.
func BrokeLimits(err error) bool {
	return errors.Is(err, ErrBulkTooLong) || errors.Is(err, ErrAggregateTooLong) ||
		errors.Is(err, ErrTooDeep) || errors.Is(err, ErrLineTooLong)
}

func protocolError(kind error, detail string) *ProtocolError {
	return &ProtocolError{Kind: kind, Detail: detail}
}
