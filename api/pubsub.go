package api

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Message is one message a Subscription received.
type Message struct {
	Channel string // the channel it was published to
	Pattern string // the pattern it matched, for PSubscribe; "" otherwise
	Payload string
}

// subscriptionBuffer is how many messages a Subscription holds for a reader that lags; while an
// Add waits, up to addingBuffer (see pump).
const (
	subscriptionBuffer = 1024
	addingBuffer       = 64 * subscriptionBuffer
)

// Subscription receives the messages published to its channels or patterns, on connections of its
// own (one per master it needs: PSubscribe and Subscribe take one, SSubscribe one per master
// serving its channels' slots). It is safe for concurrent use.
//
// Messages arrive on Messages in the order each channel's server sent them. The subscription holds
// up to 1024 for a reader that lags (65,536 while an Add waits, and, until Subscribe returns, all
// that arrive); past that its connections wait for the reader, and a server whose pub/sub output
// buffer overflows meanwhile (client-output-buffer-limit pubsub, 32 MB by default) closes the
// connection. A connection lost, or a slot of SSubscribe's moving (the server then unsubscribes its
// channels), is followed at once: the channels are subscribed again, where the map says they live
// now, with backoff while that fails. Messages published in between are not received (Redis pub/sub
// delivers at most once); each such gap is an EventError whose error, a *SubscriptionGapError
// matching ErrSubscriptionGap, names the node and every name interrupted (OnError), and is
// counted by Gaps. A connection that has read
// nothing for 5 s is sent a PING; one that then reads nothing for CommandTimeout (a frozen server,
// a middlebox answering TCP keepalives for a dead one) is lost the same way. Both are checked every
// second, so each may take up to a second more. A name the server refuses to subscribe again for
// good (NOPERM: an ACL changed; or an ERR) is dropped, with an EventError, and the subscription's
// other names stay; once none is left, the subscription ends (Err says why). Other refusals (BUSY,
// LOADING, CLUSTERDOWN, a MOVED...) are tried again, with backoff. Add and Remove change its names
// while it runs.
type Subscription struct {
	kind    subKind
	timeout time.Duration          // CommandTimeout: bounds Add
	changes chan<- func(r *subRun) // Add's and Remove's requests to its goroutine
	out     chan Message
	end     context.CancelFunc // ends it; the cluster's Close ends it too
	done    chan struct{}      // closed once its goroutines have ended and out is closed
	said    chan struct{}      // closed once err is set, before out is closed
	last    error              // the last failure before it ended; read after done
	err     error              // why it ended, nil for Close; read after said
	gaps    atomic.Uint64      // Gaps'
}

type subKind int

const (
	subChannels subKind = iota // SUBSCRIBE: PUBLISH reaches every node, one connection to any
	subPatterns                // PSUBSCRIBE: the same
	subShard                   // SSUBSCRIBE: a channel lives in its slot's shard
)

// command is the kind's subscribe command.
func (k subKind) command() string { return [...]string{"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"}[k] }

// slot is the slot name's commands go by: its own for shard channels, 0 (any) for the others.
func (k subKind) slot(name string) int {
	if k == subShard {
		return GetSlot(name)
	}
	return 0
}

// check refuses a subscription or an Add of no name, or with ctx ended.
func (k subKind) check(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("actoredis: %s needs at least one name: %w", k.command(), ErrEmptyCommand)
	}
	return ended(ctx)
}

// uncommand is the kind's unsubscribe command.
func (k subKind) uncommand() string {
	return [...]string{"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"}[k]
}

// Subscribe subscribes to channels (SUBSCRIBE): a message PUBLISHed to any node of the cluster
// reaches it, as the servers broadcast it. (Do sends PUBLISH to the master of its channel's slot,
// so that the messages one caller publishes to a channel, each awaited or sent in order with Send,
// arrive in that order, also across the loss of the client's connection to that master: they wait
// for the next one, dialled at once. Once that master is down — a dial failed, or half a second
// passed without a connection — PUBLISH goes to another node, and order across that switch is not
// kept: Redis keeps none between two nodes' messages.) It returns once the server has confirmed
// every channel.
// It fails when ctx ends, or the longer of CommandTimeout and ConnectTimeout passes, first
// (ErrTimeout: it opens a connection of its own, a dial, a handshake and the SUBSCRIBE, three round
// trips, which across a slow link take longer than a command); when the server refuses a
// channel for good (NOPERM, or an ERR: the error wraps the *resp.Error and names the node); with
// ErrEmptyCommand when given no channel; and with ErrClientClosed when the cluster is not
// connected. Close the Subscription when done; the cluster's Close ends it too.
//
// The subscription holds one connection, to a master picked at random (one with a connection up,
// and not the one its last connection failed on, when there is one), and stays on that node
// while it answers, through a failover that demotes it. When there is another master to try, a
// master that accepts the connection and does not answer is given up for another after a third
// of CommandTimeout (at least 500 ms, at most ConnectTimeout), a bound that doubles with each
// failure in a row (a handshake that is only slow). A node removed from the cluster (CLUSTER FORGET, RESET) still answers but
// no longer hears the others' messages: the subscription moves, with a gap event, only when a
// topology refresh drops the node (the next periodic one, or never with
// TopologyRefreshInterval -1).
func (c *Cluster) Subscribe(ctx context.Context, channels ...string) (*Subscription, error) {
	return c.subscribe(ctx, subChannels, channels)
}

// PSubscribe subscribes to glob-style patterns (PSUBSCRIBE), as Subscribe does to channels, with
// the same errors; each Message names the pattern it matched.
func (c *Cluster) PSubscribe(ctx context.Context, patterns ...string) (*Subscription, error) {
	return c.subscribe(ctx, subPatterns, patterns)
}

// SSubscribe subscribes to shard channels (SSUBSCRIBE, Redis 7): a channel lives in its name's
// slot, like a key, and receives what SPUBLISH sends it there. The subscription keeps a
// connection to each master serving its channels' slots, and follows a slot that moves
// (resharding, failover): as the server unsubscribes its channels, and, within a second of the
// map showing the slot on another master, by moving them there. Otherwise as Subscribe, errors
// included.
func (c *Cluster) SSubscribe(ctx context.Context, channels ...string) (*Subscription, error) {
	return c.subscribe(ctx, subShard, channels)
}

func (c *Cluster) subscribe(ctx context.Context, kind subKind, names []string) (*Subscription, error) {
	cmd := kind.command()
	if err := kind.check(ctx, names); err != nil {
		return nil, err
	}
	s := &Subscription{kind: kind, timeout: c.opts.CommandTimeout, out: make(chan Message), done: make(chan struct{}),
		said: make(chan struct{})}
	ready := make(chan error, 1)
	c.life.Lock() // so that Close, which waits for the subscriptions, waits for this one too
	rt := c.run.Load()
	if rt == nil {
		c.life.Unlock()
		return nil, fmt.Errorf("actoredis: %s: %w", cmd, c.notRunning())
	}
	rt.subs.Add(1)
	c.life.Unlock()
	r := newSubRun(c, rt, s, names, ready)
	go r.run()

	bound, cancel := context.WithTimeout(ctx, subscribeWait(c.opts))
	defer cancel()
	select {
	case err := <-ready:
		if err == nil {
			return s, nil
		}
		s.Close()
		return nil, err
	case <-bound.Done():
		s.Close()
		return nil, boundEnded(ctx, cmd, s.last)
	}
}

// subscribeWait bounds a Subscribe: the longer of CommandTimeout and ConnectTimeout. It opens a
// connection, a dial, a handshake and the SUBSCRIBE: three round trips, which across a slow link
// take longer than a command timeout set for one (at 300 ms one way and a 1 s CommandTimeout,
// every Subscribe failed, where each command took 600 ms). An Add, mostly a command on a
// connection the subscription has, waits CommandTimeout.
func subscribeWait(o ClusterOptions) time.Duration { return max(o.CommandTimeout, o.ConnectTimeout) }

// boundEnded says why a wait the caller's ctx and a timeout (CommandTimeout, or a Subscribe's
// subscribeWait) bound ended: the ctx's error, or ErrTimeout; with the last failure met meanwhile,
// if any.
func boundEnded(caller context.Context, cmd string, last error) error {
	why := caller.Err()
	if why == nil {
		why = ErrTimeout
	}
	if last != nil {
		return fmt.Errorf("actoredis: %s: %w (last: %w)", cmd, why, last)
	}
	return fmt.Errorf("actoredis: %s: %w", cmd, why)
}

// Messages returns the channel the messages arrive on. It is closed once the Subscription ends:
// Close, the cluster's Close, or every name refused for good (see Err).
func (s *Subscription) Messages() <-chan Message { return s.out }

// Gaps counts the interruptions of the subscription so far: the times messages to some of its
// names may have been lost (each is also an EventError matching ErrSubscriptionGap). A consumer
// that must resynchronise after a loss compares it with the count it last saw.
func (s *Subscription) Gaps() uint64 { return s.gaps.Load() }

// Err says why the subscription ended once Messages is closed: nil after Close, an error
// matching ErrClientClosed after the cluster's Close, or the server's refusal of its last names
// (NOPERM...). It is nil while the subscription runs.
func (s *Subscription) Err() error {
	select {
	case <-s.said: // not done, closed after Messages: a reader that saw it closed may call Err first
		return s.err
	default:
		return nil
	}
}

// Close ends the subscription: its connections close, the messages it holds and nobody has read
// are dropped, and Messages is closed. It returns once nothing of it runs. Calling it again does
// nothing.
func (s *Subscription) Close() error {
	s.end()
	<-s.done
	return nil
}

// errSubscriptionEnded is what a Subscribe still waiting hears when its subscription ends.
var errSubscriptionEnded = errors.New("actoredis: the subscription ended")
