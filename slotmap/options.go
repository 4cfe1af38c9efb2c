package slotmap

import (
	"log/slog"
	"time"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
)

// Options configure the slot map.
type Options struct {
	// Roots are the reachable "host:port" addresses discovery starts from.
	Roots []string
	// Node is the template of every node actor's options; Addr is set per node.
	Node node.Options
	// AddressMap maps an announced "host:port" to the one to dial; nil, or "" returned, keeps it.
	AddressMap func(announced string) string
	// RefreshInterval is the period of background refreshes. Default 30 s; negative disables them.
	RefreshInterval time.Duration
	// UnreachableAfter is how long a node may stay disconnected before the map is refreshed (and
	// again every 200 ms while it stays down). Default 1 s.
	UnreachableAfter time.Duration
	// Debounce gathers a burst of MOVED replies into one refresh. Default 50 ms.
	Debounce time.Duration
	// QueryTimeout bounds one discovery query to one node. Default 2 s.
	QueryTimeout time.Duration
	// AskedHold is how long a node an ASK named stays open after the last ASK naming it, while no
	// topology lists it (a migration's target the topology does not list yet). Default 1 min.
	AskedHold time.Duration
	// OnNodeEvent receives every node's connection events (on the slot map's goroutine).
	OnNodeEvent func(node.Event)
	// OnError receives refresh failures.
	OnError func(error)
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.RefreshInterval == 0 {
		o.RefreshInterval = 30 * time.Second
	}
	if o.UnreachableAfter <= 0 {
		o.UnreachableAfter = time.Second
	}
	if o.Debounce <= 0 {
		o.Debounce = 50 * time.Millisecond
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 2 * time.Second
	}
	if o.AskedHold <= 0 {
		o.AskedHold = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) mapAddr(announced string) string {
	return MapAddress(o.AddressMap, announced, o.Logger)
}

// MapAddress applies an address map to an announced "host:port": the mapped address, or the
// announced one when the map is nil or has no entry ("" returned). The map is the user's code, run
// on the client's actors: a panic in it is logged to logger (when not nil) and the announced
// address kept.
func MapAddress(m func(announced string) string, announced string, logger *slog.Logger) string {
	if m == nil {
		return announced
	}
	var to string
	actors.Contain(logger, "actoredis: the address map panicked; the announced address is used",
		func() { to = m(announced) }, "announced", announced)
	if to != "" {
		return to
	}
	return announced
}
