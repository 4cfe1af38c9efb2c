// Package node is the node actor: one actor per Redis server address, owning that server's
// connection, its handshake, auto-pipelining, reconnects and health checks.
//
// A command reaches the actor as a *Request carrying its Future. The actor encodes it into a write
// buffer; when a command lands in an empty batch the actor sends itself a Flush message, which
// arrives behind everything already queued, so one write carries every command that arrived
// meanwhile (auto-pipelining) and a lone caller waits for no timer. Written requests go, in order,
// to the connection's reader goroutine, which parses the replies and completes the futures. A
// command lent the idle actor (Node.TryRun) is written at once, on its sender's goroutine.
//
// While one caller at a time uses the client (Options.Alone), the reader goroutine parks when no
// reply is due, and a lent caller reads its own reply too, for up to a millisecond, so the reply
// wakes one goroutine, not two (lentread.go). Whoever holds the read token reads; a writer wakes a
// parked reader, and what waits on a parked socket (a server's close, a push frame, a reply to no
// command) is read before anything is written behind it, or by the node's clock.
//
// The node returns every reply, MOVED and ASK included, to whoever asked; it never follows a
// redirect. When the connection fails, every written command fails with a *ConnError saying that it
// may have run; commands not yet written are kept (up to Options.OfflineQueue) and sent after
// reconnecting with exponential backoff. A command waits at most Options.CommandTimeout: queued
// while the node is unreachable, or written on a connection that stopped answering (which is then
// closed and dialed again).
package node
