// Package fakeredis is a scripted fake Redis server for protocol edge cases a real server never
// produces: garbage, huge length headers, deep nesting, replies for commands never sent, slow
// replies, connections closed mid-reply.
//
// A test gives Start a handler; each accepted connection runs it on its own goroutine with a Conn
// that reads commands (RESP arrays of bulk strings) and writes raw bytes. Close stops the listener,
// closes every connection and waits for every handler. Servers listen on 127.0.0.1 only.
package fakeredis
