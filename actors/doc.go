// Package actors is the glue over protoactor-go that every actor of actoredis shares.
//
//   - System: one protoactor ActorSystem per client, with protoactor's logging routed to the client's
//     logger, dead letters that carry futures failed at once, and a Shutdown that stops every actor
//     and waits for its goroutine, so nothing outlives the client.
//   - Future: a one-shot result carried inside the message that asks for work and completed where
//     the result is known (by a connection's reader). protoactor's RequestFuture, which registers a
//     process per call, stays off the hot path.
//   - A pinned mailbox: each hot actor runs on one long-lived goroutine, messages cost no allocation,
//     and an optional Drained message tells the actor its queue ran empty (the moment to flush a
//     write batch). Messages still queued when an actor stops, and the message a panic interrupted,
//     are failed through Failer — no caller hangs.
//   - Lending: a Lender runs an idle pinned actor on the caller's goroutine (TryRun) instead of
//     waking the actor's own, one goroutine at a time either way. The client lends its dispatcher
//     and node actors to a caller alone in Do, whose command then crosses no goroutine on its way
//     to the socket.
//   - Supervision: a panicking actor is restarted (up to 10 times in 10 s, then stopped).
package actors
