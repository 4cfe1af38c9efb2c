package slotmap

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/actoredis/actoredis/node"
)

// Ref is one server in a Snapshot: as announced, where it is reached, and its node actor. Like
// the Snapshot it belongs to, it is never changed and is safe for concurrent use.
type Ref struct {
	Info NodeInfo   // as the cluster announced it
	Addr string     // "host:port" reachable, after the address map
	Node *node.Node // the node actor
}

// ShardRefs is one shard of a Snapshot; immutable, safe for concurrent use.
type ShardRefs struct {
	Ranges   [][2]int
	Master   *Ref
	Replicas []*Ref // healthy replicas only
}

// noShard marks a slot no shard serves.
const noShard = 0xFFFF

// Snapshot is the topology at one moment. It is immutable once published: safe to read from any
// goroutine, never changed — a change makes a new Snapshot.
type Snapshot struct {
	Version   uint64
	Shards    []*ShardRefs     // the shards serving slots
	empty     []*ShardRefs     // the shards of online masters serving none (no Ranges)
	slots     [NumSlots]uint16 // index into Shards
	byAddr    map[string]*Ref
	nodes     []*Ref          // every node, masters first
	unreached []Unreached     // masters left out: their slots have no node, and this says why
	outside   map[string]bool // nodes listed only because an ASK or a Learn named them (withNode)
}

// Unreached is a master the map leaves out because the cluster gives no way to reach it: it
// announces no endpoint ("?") or no port. Its slots have no node in the map.
type Unreached struct {
	Ranges [][2]int
	Info   NodeInfo
}

// NoEndpoint says what a node that announces the endpoint "?" means, and what causes it.
const NoEndpoint = `announces no endpoint ("?": the cluster's cluster-preferred-endpoint-type is ` +
	`hostname, and that node has no cluster-announce-hostname)`

// Why says why the master cannot be reached, and what usually causes it.
func (u Unreached) Why() string {
	if u.Info.Host == UnknownHost {
		return fmt.Sprintf("its master %s (port %d) %s", u.Info.ID, u.Info.Port, NoEndpoint)
	}
	return fmt.Sprintf("its master %s (%s) announces no port", u.Info.ID, u.Info.Host)
}

// Unreached returns the master of slot that the map left out (see Unreached), if it left one out.
func (s *Snapshot) Unreached(slot int) (Unreached, bool) {
	for _, u := range s.unreached {
		for _, rg := range u.Ranges {
			if slot >= rg[0] && slot <= rg[1] {
				return u, true
			}
		}
	}
	return Unreached{}, false
}

// Shard returns the shard serving slot, or nil when no shard does.
func (s *Snapshot) Shard(slot int) *ShardRefs {
	i := s.slots[slot]
	if i == noShard {
		return nil
	}
	return s.Shards[i]
}

// Master returns the master serving slot, or nil.
func (s *Snapshot) Master(slot int) *Ref {
	if sh := s.Shard(slot); sh != nil {
		return sh.Master
	}
	return nil
}

// ByAddr returns the node reached at addr, or nil.
func (s *Snapshot) ByAddr(addr string) *Ref { return s.byAddr[addr] }

// Outside reports whether the node at addr is listed only because an ASK or a Learn named it: no
// topology the map found since held it.
func (s *Snapshot) Outside(addr string) bool { return s.outside[addr] }

// Nodes returns every node, masters first. The slice must not be modified.
func (s *Snapshot) Nodes() []*Ref { return s.nodes }

// Masters returns the master of every shard: those serving slots, then the online masters that
// serve none (added to the cluster and given no slot yet, or emptied before their removal). The
// slice is new.
func (s *Snapshot) Masters() []*Ref {
	out := make([]*Ref, 0, len(s.Shards)+len(s.empty))
	for _, sh := range s.allShards() {
		out = append(out, sh.Master)
	}
	return out
}

// ServingMasters returns the master of every shard serving slots. The slice is new.
func (s *Snapshot) ServingMasters() []*Ref {
	out := make([]*Ref, 0, len(s.Shards))
	for _, sh := range s.Shards {
		out = append(out, sh.Master)
	}
	return out
}

// Replicas returns every healthy replica, of every shard (see Masters). The slice is new.
func (s *Snapshot) Replicas() []*Ref {
	var out []*Ref
	for _, sh := range s.allShards() {
		out = append(out, sh.Replicas...)
	}
	return out
}

// allShards returns the shards serving slots, then those serving none.
func (s *Snapshot) allShards() []*ShardRefs {
	if len(s.empty) == 0 {
		return s.Shards
	}
	return append(slices.Clip(s.Shards), s.empty...)
}

// isMaster reports whether the node reached at addr masters a shard serving slots in s: one whose
// loss is a failover to follow, and the only place its commands can go.
func (s *Snapshot) isMaster(addr string) bool {
	for _, sh := range s.Shards {
		if sh.Master.Addr == addr {
			return true
		}
	}
	return false
}

// Covered returns how many slots have a master.
func (s *Snapshot) Covered() int {
	n := 0
	for _, i := range s.slots {
		if i != noShard {
			n++
		}
	}
	return n
}

// withSlot returns a copy of s in which slot is served by the shard whose master is ref, adding a
// shard for ref when it masters none yet (a MOVED to a node the map did not know as a master). A
// replica named so was promoted (a failover the map has not seen yet): it is listed as a master
// from then on, and no longer as its old shard's replica.
func (s *Snapshot) withSlot(slot int, ref *Ref) *Snapshot {
	c := *s
	c.Version++
	c.Shards = append([]*ShardRefs(nil), s.Shards...)
	idx := -1
	for i, sh := range c.Shards {
		if sh.Master.Addr == ref.Addr {
			idx = i
			break
		}
	}
	if idx < 0 {
		var replicas []*Ref
		// A master that served no slot serves this one now: a shard of its own from here, with its
		// replicas.
		if j := slices.IndexFunc(s.empty, func(sh *ShardRefs) bool { return sh.Master.Addr == ref.Addr }); j >= 0 {
			replicas = s.empty[j].Replicas
			c.empty = slices.Delete(slices.Clone(s.empty), j, j+1)
		}
		if ref.Info.Role != "master" {
			promoted := *ref
			promoted.Info.Role = "master"
			ref = &promoted
			c.dropReplica(ref.Addr)
		}
		c.Shards = append(c.Shards, &ShardRefs{Master: ref, Replicas: replicas})
		idx = len(c.Shards) - 1
	}
	c.slots[slot] = uint16(idx)
	if s.byAddr[ref.Addr] != ref {
		known := c.withNode(ref)
		c.byAddr, c.nodes = known.byAddr, known.nodes
	}
	return &c
}

// dropReplica takes the node at addr out of the replicas of s's shards, copying the shards it
// leaves: s.Shards must be s's own slice (the shards may be shared with the snapshot s was copied
// from).
func (s *Snapshot) dropReplica(addr string) {
	s.empty = slices.Clone(s.empty) // as s.Shards, shared with the snapshot s was copied from
	for _, shards := range [][]*ShardRefs{s.Shards, s.empty} {
		for i, sh := range shards {
			if j := slices.IndexFunc(sh.Replicas, func(r *Ref) bool { return r.Addr == addr }); j >= 0 {
				left := *sh
				left.Replicas = slices.Delete(slices.Clone(sh.Replicas), j, j+1)
				shards[i] = &left
			}
		}
	}
}

// withNode returns a copy of s that knows ref (reached for an ASK), without any slot. A node s
// knew at ref's address under another Ref is replaced; the masters stay listed first.
func (s *Snapshot) withNode(ref *Ref) *Snapshot {
	c := *s
	c.Version++
	c.byAddr = make(map[string]*Ref, len(s.byAddr)+1)
	for k, v := range s.byAddr {
		c.byAddr[k] = v
	}
	c.byAddr[ref.Addr] = ref
	c.outside = make(map[string]bool, len(s.outside)+1)
	for k := range s.outside {
		c.outside[k] = true
	}
	c.outside[ref.Addr] = true
	c.nodes = make([]*Ref, 0, len(s.nodes)+1)
	for _, n := range s.nodes {
		if n.Addr != ref.Addr {
			c.nodes = append(c.nodes, n)
		}
	}
	at := len(c.nodes) // masters first: a master goes after the last one
	if ref.Info.Role == "master" {
		at = 0
		for at < len(c.nodes) && c.nodes[at].Info.Role == "master" {
			at++
		}
	}
	c.nodes = slices.Insert(c.nodes, at, ref)
	return &c
}

// splitHostPort splits "host:port" leniently: the port after the last colon, 0 when missing.
func splitHostPort(addr string) (string, int) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr, 0
	}
	port, _ := strconv.Atoi(addr[i+1:])
	return strings.TrimSuffix(strings.TrimPrefix(addr[:i], "["), "]"), port
}

// lacksNodeOf reports whether o lists a node s does not.
func (s *Snapshot) lacksNodeOf(o *Snapshot) bool {
	for addr := range o.byAddr {
		if s.byAddr[addr] == nil {
			return true
		}
	}
	return false
}

// emptiedMasterOf reports whether s lists as a master serving no slot a node that masters slots
// in o: a master just demoted by a failover, or one whose last slots moved away.
func (s *Snapshot) emptiedMasterOf(o *Snapshot) bool {
	for _, e := range s.empty {
		if o.isMaster(e.Master.Addr) {
			return true
		}
	}
	return false
}

// sameRouting reports whether s routes every command as o does, and says the same of every node:
// the same shard for every slot, and the same master and replicas, in order, with the same
// NodeInfo (id, role, health, ports), for every shard (those serving no slot included), and the
// same masters left out (Unreached),
// so that the reason a slot has no node stays true. o may be nil.
func (s *Snapshot) sameRouting(o *Snapshot) bool {
	if o == nil || s.slots != o.slots || len(s.Shards) != len(o.Shards) || len(s.empty) != len(o.empty) ||
		len(s.nodes) != len(o.nodes) || !slices.EqualFunc(s.unreached, o.unreached, sameUnreached) {
		return false
	}
	return slices.EqualFunc(s.Shards, o.Shards, sameShard) && slices.EqualFunc(s.empty, o.empty, sameShard)
}

// sameShard reports whether two shards have the same master and replicas, in order, each with the
// same NodeInfo.
func sameShard(a, b *ShardRefs) bool {
	return sameRef(a.Master, b.Master) && slices.EqualFunc(a.Replicas, b.Replicas, sameRef)
}

func sameRef(a, b *Ref) bool { return a.Addr == b.Addr && a.Info == b.Info }

func sameUnreached(a, b Unreached) bool { return a.Info == b.Info && slices.Equal(a.Ranges, b.Ranges) }
