package api

import (
	"fmt"
	"math/bits"
	"net"
	"strconv"
	"strings"

	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// slotSet is a set of hash slots.
type slotSet [slotmap.NumSlots / 64]uint64

func (s *slotSet) add(slot int)      { s[slot/64] |= 1 << (slot % 64) }
func (s *slotSet) del(slot int)      { s[slot/64] &^= 1 << (slot % 64) }
func (s *slotSet) has(slot int) bool { return s[slot/64]&(1<<(slot%64)) != 0 }

// each calls f with every slot of s, in order.
func (s *slotSet) each(f func(slot int)) { s.first(func(slot int) bool { f(slot); return false }) }

// first returns the first slot of s that ok accepts (any, when ok is nil), or -1.
func (s *slotSet) first(ok func(slot int) bool) int {
	for i, w := range s {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			if slot := i*64 + b; ok == nil || ok(slot) {
				return slot
			}
			w &^= 1 << b
		}
	}
	return -1
}

// empty reports whether s holds no slot.
func (s *slotSet) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

// selfView is what a node says of its own slots in the myself line of CLUSTER NODES: those it
// serves, those it is migrating out (to the node id given) and those it is importing.
type selfView struct {
	owned     slotSet
	importing slotSet
	migrating map[int]string
	// peers maps each node's id to its address in the reply, hostname (if any) and port
	// included; self is the node's own line.
	peers map[string]peerAddr
	self  peerAddr
	// epoch is the node's config epoch: it changes when the node takes a slot (SETSLOT NODE, a
	// failover), back included.
	epoch string
}

// peerAddr is a node's address in a CLUSTER NODES line: "ip:port@cport[,hostname]".
type peerAddr struct{ ip, hostname, port string }

// addrOf returns the address the cluster announces node id by: its hostname when the node the
// view came from is announced by its own (host is how the map knows that node), else its IP.
func (view *selfView) addrOf(id, host string) string {
	p, ok := view.peers[id]
	if !ok || p.port == "" {
		return ""
	}
	if p.hostname != "" && view.self.hostname != "" && host == view.self.hostname {
		return net.JoinHostPort(p.hostname, p.port)
	}
	return net.JoinHostPort(p.ip, p.port)
}

// parsePeerAddr reads the address field of a CLUSTER NODES line.
func parsePeerAddr(field string) peerAddr {
	addr, hostname, _ := strings.Cut(field, ",")
	addr, _, _ = strings.Cut(addr, "@")
	colon := strings.LastIndexByte(addr, ':') // an IPv6 address comes unbracketed: "::1:7000"
	if colon <= 0 {
		return peerAddr{}
	}
	ip, port := strings.Trim(addr[:colon], "[]"), addr[colon+1:]
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return peerAddr{}
	}
	return peerAddr{ip: ip, hostname: hostname, port: port}
}

// parseSelfView reads the myself line of a CLUSTER NODES reply: "<id> <addr> <flags> <master>
// <ping> <pong> <epoch> <link> <slot>...", a slot being "a", "a-b", "[a->-<id>]" (migrating to id)
// or "[a-<-<id>]" (importing from id).
func parseSelfView(v resp.Value) (selfView, error) {
	view := selfView{migrating: map[int]string{}, peers: map[string]peerAddr{}}
	mine := false
	for line := range strings.SplitSeq(v.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		view.peers[f[0]] = parsePeerAddr(f[1])
		if !hasFlag(f[2], "myself") {
			continue
		}
		mine, view.self, view.epoch = true, view.peers[f[0]], f[6]
		for _, tok := range f[8:] {
			if err := view.addToken(tok); err != nil {
				return selfView{}, fmt.Errorf("%w: CLUSTER NODES slot %q: %w", resp.ErrUnexpectedType, tok, err)
			}
		}
	}
	if !mine {
		return selfView{}, fmt.Errorf("%w: CLUSTER NODES has no myself line", resp.ErrUnexpectedType)
	}
	return view, nil
}

// addToken adds one slot token of a CLUSTER NODES line to view.
func (view *selfView) addToken(tok string) error {
	if inner, ok := strings.CutPrefix(tok, "["); ok {
		inner = strings.TrimSuffix(inner, "]")
		if s, id, ok := strings.Cut(inner, "->-"); ok {
			slot, err := parseSlot(s)
			view.migrating[slot] = id
			return err
		}
		if s, _, ok := strings.Cut(inner, "-<-"); ok {
			slot, err := parseSlot(s)
			if err == nil {
				view.importing.add(slot)
			}
			return err
		}
		return fmt.Errorf("neither migrating nor importing")
	}
	lo, hi, ranged := strings.Cut(tok, "-")
	from, err := parseSlot(lo)
	to := from
	if err == nil && ranged {
		to, err = parseSlot(hi)
	}
	if err != nil {
		return err
	}
	for s := from; s <= to; s++ {
		view.owned.add(s)
	}
	return nil
}

func parseSlot(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil && (n < 0 || n >= slotmap.NumSlots) {
		err = fmt.Errorf("slot %d out of range", n)
	}
	return n, err
}

// hasFlag reports whether the comma-separated flags of a CLUSTER NODES line hold flag.
func hasFlag(flags, flag string) bool {
	for f := range strings.SplitSeq(flags, ",") {
		if f == flag {
			return true
		}
	}
	return false
}
