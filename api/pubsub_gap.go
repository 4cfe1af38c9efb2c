package api

import (
	"fmt"
	"maps"
	"slices"

	"github.com/actoredis/actoredis/node"
)

// SubscriptionGapError is the error of the EventError that reports a subscription's gap: it
// matches ErrSubscriptionGap, and says where and what. Its message names the first 8 names;
// Names has them all. It is immutable and safe for concurrent use.
type SubscriptionGapError struct {
	// Addr is the node whose connection carried the names.
	Addr string
	// Command is the subscription's: SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE.
	Command string
	// Names are the channels (or patterns) interrupted, sorted, each confirmed by the server
	// before: messages published to them meanwhile are lost.
	Names []string
	// Cause is what interrupted them: the connection's failure, or nil when the server
	// unsubscribed a shard channel whose slot moved.
	Cause error
}

func (e *SubscriptionGapError) Error() string {
	list := fmt.Sprintf("%q", e.Names)
	if len(e.Names) > 8 {
		list = fmt.Sprintf("%q and %d more", e.Names[:8], len(e.Names)-8)
	}
	if e.Cause == nil {
		return fmt.Sprintf("actoredis: node %s: %s %s: unsubscribed by the server (its slot moved): %v",
			e.Addr, e.Command, list, ErrSubscriptionGap)
	}
	at := fmt.Sprintf("%s %s", e.Command, list)
	if !node.NamesNode(e.Cause) {
		at = fmt.Sprintf("node %s: %s", e.Addr, at)
	}
	return fmt.Sprintf("actoredis: %s: %v: %v", at, ErrSubscriptionGap, e.Cause)
}

// Is matches ErrSubscriptionGap.
func (e *SubscriptionGapError) Is(target error) bool { return target == ErrSubscriptionGap }

// Unwrap returns Cause.
func (e *SubscriptionGapError) Unwrap() error { return e.Cause }

// gapOf is the gap of names at addr, for cmd, after cause.
func gapOf(addr, cmd string, names map[string]struct{}, cause error) *SubscriptionGapError {
	return &SubscriptionGapError{Addr: addr, Command: cmd, Names: slices.Sorted(maps.Keys(names)), Cause: cause}
}
