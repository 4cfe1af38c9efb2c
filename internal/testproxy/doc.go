// Package testproxy is a TCP proxy for tests, put between a client and one server to make the
// network misbehave: refuse connections, hold a connection's handshake at a gate, delay replies,
// hold all traffic (a black hole, as a partition), stop reading the client, half-close, replace
// a reply, or send bytes the server never sent. It listens on 127.0.0.1 only, and closes every
// connection and waits for its goroutines when the test ends.
package testproxy
