package node

import (
	"context"
	"crypto/tls"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// Options configure one node actor. The zero value of each field is its documented default.
type Options struct {
	// Addr is the server's "host:port".
	Addr string
	// MapAddr maps an announced "host:port" (a redirect's target) to the one the client dials
	// (the cluster's address map); nil: the same. It tells a script's redirect naming this node
	// (see Refused). It may run on the connection's reader.
	MapAddr func(announced string) string
	// KeySlot gives a key's hash slot (slotmap.Slot); nil: not known. It tells a script's redirect
	// naming another slot than its keys' (see Refused). It may run on the connection's reader.
	KeySlot func(key string) int
	// Username and Password authenticate (HELLO AUTH, or AUTH on RESP2). Empty: no AUTH.
	Username, Password string
	// ClientName is set with HELLO SETNAME / CLIENT SETNAME. Empty: none.
	ClientName string
	// TLS, when set, wraps the connection in TLS with this configuration.
	TLS *tls.Config
	// Dialer, when set, opens the connection in place of a TCP dial (net.Dialer with keepAlive):
	// network "tcp", addr Addr, ctx bounded by ConnectTimeout. TLS, when set, wraps what it
	// returns. A panic in it fails that dial. A write cut short by its deadline is finished later
	// only on a *net.TCPConn or *net.UnixConn; on another connection it fails the connection. A
	// connection that is no syscall.Conn cannot be peeked at: its reader never parks (Alone), and
	// an idle dedicated one answers a PING before it is reused.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// RESP is the protocol version: 3 (default; HELLO 3, falling back to RESP2 when the server does
	// not know HELLO) or 2.
	RESP int
	// ReadOnly sends READONLY after the handshake, for reads served by a replica. Node.SetReadOnly
	// changes it for the pipelined connection.
	ReadOnly bool
	// ConnectTimeout bounds dialing plus the handshake. Default 5 s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds how long a command may wait: queued while the node is unreachable,
	// batched while the connection has fifoSize replies due or its server takes no more bytes, or
	// written with no reply arriving on the connection. Past it the command fails; a connection
	// that answers nothing for this long is closed and dialed again. Default 5 s.
	CommandTimeout time.Duration
	// OfflineQueue is how many commands are kept while the connection is down, to be sent after
	// reconnecting; past it commands fail at once with ErrOfflineQueueFull. Default 1024.
	OfflineQueue int
	// MaxDedicated bounds the node's dedicated connections (blocking commands, WATCH sessions).
	// Default 8.
	MaxDedicated int
	// Reconnect returns the delay before reconnect attempt n (1, 2, ...), at least
	// MinReconnectDelay. n counts the attempts since a connection last stayed up for a second or
	// more (or since the node started). Default: DefaultBackoff.
	Reconnect func(attempt int) time.Duration
	// HealthCheck is how long the connection may stay idle before a PING checks it. Default 10 s;
	// negative disables it.
	HealthCheck time.Duration
	// Limits bound the replies read from the server (resp.Limits defaults when zero).
	Limits resp.Limits
	// OnEvent receives the node's connection events, on the actor's goroutine: it must not block.
	OnEvent func(Event)
	// OnStall is told, on the actor's goroutine, when the connection's oldest reply due has been
	// due, and nothing has moved (no reply, no byte of one, no byte of a write cut short taken),
	// for half of CommandTimeout, at most a second, beyond the holds of the WAITs and Slower
	// commands ahead of it (stalled true: a server paused, or frozen, whose failover a map
	// refresh may show before the command timeout), and when that ends (false: replies came, or
	// the connection was dropped). It must not block.
	OnStall func(stalled bool)

	// read, when set, counts the bytes read from the connection (by dial's reader): the node's
	// own, for the stall signal, which takes a reply still arriving for no stall.
	read *atomic.Int64
	// OnPush receives RESP3 push frames (client-side caching invalidations, say; SUBSCRIBE is
	// refused on the shared connection), on the connection's reader goroutine: it must not block,
	// and a panic in it is logged. The value is owned by the callee. Nil drops them.
	OnPush func(resp.Value)
	// Logger receives the node's diagnostics; nil discards them.
	Logger *slog.Logger
	// Alone, when set, reports whether a single caller is using the node's client. While it says
	// so and no reply is due, the connection's reader goroutine stops reading, and a caller lent
	// the node (TryRun) reads its own reply: one goroutine woken per reply instead of two. Nil:
	// the reader goroutine reads every reply.
	Alone func() bool

	// flushOnDrained selects the mailbox's Drained signal instead of a self-sent Flush message to
	// end a write batch; set by benchmarks comparing the two.
	flushOnDrained bool

	// stableFor is how long a connection must have stayed up for the count of reconnect attempts
	// to start again at 1 once it is lost. Default (0) a second; tests set it.
	stableFor time.Duration
}

// DefaultBackoff is the default reconnect delay: 10–20 ms for the first attempt (a connection
// lost is most often one the server or a proxy closed, with the server up), then
// min(2^attempt × 50 ms, 2 s) plus 0–200 ms of jitter.
func DefaultBackoff(attempt int) time.Duration {
	if attempt <= 1 {
		return MinReconnectDelay + rand.N(MinReconnectDelay)
	}
	d := 2 * time.Second
	if attempt < 6 {
		d = min(time.Duration(1<<attempt)*50*time.Millisecond, d)
	}
	return d + rand.N(200*time.Millisecond)
}

func (o Options) withDefaults() Options {
	if o.RESP == 0 {
		o.RESP = 3
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.stableFor <= 0 {
		// A connection failing sooner (a server or a proxy closing each one it accepts) is dialled
		// again as the attempts before it left off, not at once each time.
		o.stableFor = time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Second
	}
	if o.OfflineQueue <= 0 {
		o.OfflineQueue = 1024
	}
	if o.MaxDedicated <= 0 {
		o.MaxDedicated = 8
	}
	if o.Reconnect == nil {
		o.Reconnect = DefaultBackoff
	}
	if o.HealthCheck == 0 {
		o.HealthCheck = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
