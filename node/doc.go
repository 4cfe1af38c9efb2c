// Package node will hold the node actor: one actor per Redis server address, owning that server's
// connection(s), the handshake, auto-pipelining, reconnects and health checks. It returns every
// server reply, MOVED and ASK included, to whoever asked, and never follows redirects.
//
// It is empty until the Node actor issue lands; nothing here works yet.
package node
