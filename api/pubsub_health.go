package api

import (
	"fmt"
	"time"
)

// A subscription's connections are quiet while nothing is published: a server gone without a
// word (a middlebox that keeps answering TCP keepalives, a host that froze) would go unnoticed,
// and the subscription would receive nothing, saying nothing. So each connection that has read
// nothing for pingIdle is sent a PING, and one that then reads nothing for CommandTimeout is
// lost (see lose): subscribed again, with an EventError for the gap.
var (
	// subTickEvery is how often a subscription checks its connections' health, and, for shard
	// channels, compares them with the map (follow).
	subTickEvery = time.Second
	// pingIdle is how long a subscription's connection may read nothing before it is PINGed.
	pingIdle = 5 * time.Second
)

// checkHealth PINGs the connections quiet for pingIdle, and drops those a PING has not woken
// within CommandTimeout. A connection's reader counts what it reads (link.frames): any frame,
// message or PONG, shows the server there. A reader waiting for the user to take a message reads
// nothing meanwhile, and its connection is left alone.
func (r *subRun) checkHealth(now time.Time) {
	for _, l := range r.links {
		h := &l.health
		if f := l.frames.Load(); f != h.frames || h.heard.IsZero() || l.handing.Load() {
			h.frames, h.heard, h.pingedAt = f, now, time.Time{}
			continue
		}
		switch {
		case h.pingedAt.IsZero():
			if now.Sub(h.heard) < r.pingIdle {
				continue
			}
			l.sent = append(l.sent, &sent{kind: sentPing, left: 1})
			h.pingedAt = now
			if err := l.conn.Write("PING"); err != nil {
				r.lose(l, err)
			}
		case now.Sub(h.pingedAt) >= r.c.opts.CommandTimeout:
			r.lose(l, fmt.Errorf("actoredis: node %s: PING on a %s connection: no reply within %v: %w",
				l.conn.Addr(), r.cmd, r.c.opts.CommandTimeout, ErrTimeout))
		}
	}
}
