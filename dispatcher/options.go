package dispatcher

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/actoredis/actoredis/slotmap"
)

// Options configure a dispatcher.
type Options struct {
	// Map is the slot map it follows and reports MOVED replies to.
	Map *slotmap.Map
	// AddressMap maps an announced "host:port" (a MOVED or ASK target) to the reachable one.
	AddressMap func(announced string) string
	// Commands is the key-position table; nil means BuiltinCommands().
	Commands *Commands
	// UseReplicas sends read-only commands round-robin over a slot's master and replicas.
	UseReplicas bool
	// MaxRedirections is how many MOVED/ASK hops a command may take. Default 16.
	MaxRedirections int
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Lend routes a request on its sender's goroutine, and writes it there, when the dispatcher and
	// the node are idle (see actors.Lender).
	Lend bool
}

func (o Options) withDefaults() Options {
	if o.Commands == nil {
		o.Commands = BuiltinCommands()
	}
	if o.MaxRedirections <= 0 {
		o.MaxRedirections = 16
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) mapAddr(announced string) string {
	return slotmap.MapAddress(o.AddressMap, announced, o.Logger)
}

// Backoff is the delay before retry n (1, 2, ...) of whatever the client retries: 10 ms doubling to
// 1 s, with ±50% jitter.
func Backoff(n int) time.Duration {
	return backoff(n, func(d time.Duration) time.Duration { return rand.N(d) })
}

// backoff is Backoff with the jitter given: a random duration below its argument.
func backoff(n int, jitter func(time.Duration) time.Duration) time.Duration {
	d := time.Second
	if n < 7 {
		d = min(10*time.Millisecond<<n, d)
	}
	return d/2 + jitter(d)
}
