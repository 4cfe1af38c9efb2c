// Package actors will hold the glue over protoactor-go that every actor of the client shares:
// the actor-system lifecycle, the one-shot Future carried inside messages, the pinned dispatcher,
// supervision defaults and dead-letter handling.
//
// It is empty until the Node actor issue lands; nothing here works yet.
package actors
