package api

import (
	"fmt"
	"strings"
)

// PartialError reports a command of many keys sent as one command per slot (MGet, MSet, Del,
// Unlink, Exists) when more than one was sent and some or all of them failed. When the keys are
// all in one slot, only one command is sent, and its error is returned instead, not a
// PartialError. Failed lists the commands that failed, in the order of their first keys, and may
// list every command sent; Sent is how many were sent. The commands not in Failed ran, and what
// they returned comes with the error (MGet's values of their keys, Del's count of their keys...).
// A failed command may have run too (see WasWritten; a ctx that ended while it was in flight
// fails it with ctx.Err(), which says nothing either way): a Del's count then leaves out the keys
// it deleted. It matches (errors.Is, errors.As) the error of each failed command: ErrTimeout, a
// *ConnError naming the node, ctx's error... It is immutable and safe for concurrent use.
type PartialError struct {
	Command string
	Sent    int
	Failed  []SlotFailure
}

// SlotFailure is one failed command of a PartialError: its slot, its keys, and why.
type SlotFailure struct {
	Slot int
	Keys []string
	Err  error
}

// partialKeysShown is how many keys of a failed command the message lists.
const partialKeysShown = 3

func (e *PartialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "actoredis: %s: %d of %d commands (one per slot) failed", e.Command, len(e.Failed), e.Sent)
	for _, f := range e.Failed {
		keys := f.Keys[:min(len(f.Keys), partialKeysShown)]
		fmt.Fprintf(&b, "; slot %d (keys %q", f.Slot, keys)
		if more := len(f.Keys) - len(keys); more > 0 {
			fmt.Fprintf(&b, " and %d more", more)
		}
		fmt.Fprintf(&b, "): %v", f.Err)
	}
	return b.String()
}

// Unwrap returns the failed commands' errors.
func (e *PartialError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}
