package actors

import (
	"errors"
	"fmt"
)

// Failer is implemented by messages that carry a Future (or several). When such a message cannot
// be handled — its actor stopped, it became a dead letter, or its handler panicked — the actors
// package calls Fail so that nobody waits forever.
type Failer interface {
	Fail(err error)
}

// Drained is delivered to an actor spawned with SpawnOptions.NotifyDrained each time its mailbox
// runs empty after it handled at least one user message: the moment to flush a write batch.
type Drained struct{}

// DrainedMessage is the one Drained value the mailbox delivers.
var DrainedMessage = &Drained{}

// ErrActorStopped is matched by the error a message's futures fail with when its actor stopped
// before handling it.
var ErrActorStopped = errors.New("actoredis: actor stopped")

// ErrActorPanicked is matched by the error a message's futures fail with when the actor panicked
// while handling it.
var ErrActorPanicked = errors.New("actoredis: actor panicked")

// UnknownMessageError is what an actor's Receive reports for a message type it does not handle.
type UnknownMessageError struct {
	Actor   string
	Message any
}

func (e *UnknownMessageError) Error() string {
	return fmt.Sprintf("actoredis: %s received an unknown message %T", e.Actor, e.Message)
}
