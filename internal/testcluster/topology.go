package testcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// NumSlots is the number of hash slots of a Redis Cluster.
const NumSlots = 16384

// pollInterval is how often the Wait helpers look at the servers.
const pollInterval = 20 * time.Millisecond

// pollLimit bounds a poll whose context has no deadline.
const pollLimit = 2 * time.Minute

// slotRange is one entry of CLUSTER SLOTS: a range of slots, its master and its replicas (node ids).
type slotRange struct {
	start, end int
	master     string
	replicas   []string // sorted
}

// topology is a slot map as one node sees it, sorted by start slot.
type topology []slotRange

// parseSlots parses a CLUSTER SLOTS reply: [[start, end, [host, port, id, ...], replicas...], ...].
func parseSlots(v any) (topology, error) {
	entries, ok := v.([]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: unexpected reply %T", v)
	}
	t := make(topology, 0, len(entries))
	for _, e := range entries {
		fields, ok := e.([]any)
		if !ok || len(fields) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS: unexpected entry %v", e)
		}
		start, ok1 := fields[0].(int64)
		end, ok2 := fields[1].(int64)
		if !ok1 || !ok2 || start < 0 || end < start || end >= NumSlots {
			return nil, fmt.Errorf("CLUSTER SLOTS: bad range in %v", e)
		}
		r := slotRange{start: int(start), end: int(end)}
		for i, nf := range fields[2:] {
			node, ok := nf.([]any)
			if !ok || len(node) < 3 {
				return nil, fmt.Errorf("CLUSTER SLOTS: bad node in %v", e)
			}
			id, _ := node[2].(string)
			if i == 0 {
				r.master = id
			} else {
				r.replicas = append(r.replicas, id)
			}
		}
		sort.Strings(r.replicas)
		t = append(t, r)
	}
	sort.Slice(t, func(i, j int) bool { return t[i].start < t[j].start })
	return t, nil
}

// key is a canonical text of the slot map, masters and replicas, for comparing views.
func (t topology) key() string {
	var b strings.Builder
	for _, r := range t {
		fmt.Fprintf(&b, "%d-%d:%s[%s] ", r.start, r.end, r.master, strings.Join(r.replicas, ","))
	}
	return b.String()
}

// String is a short form of the map for error messages (ids cut to 8 characters).
func (t topology) String() string {
	short := func(id string) string { return id[:min(8, len(id))] }
	var parts []string
	for _, r := range t {
		reps := make([]string, len(r.replicas))
		for i, id := range r.replicas {
			reps[i] = short(id)
		}
		parts = append(parts, fmt.Sprintf("%d-%d:%s%v", r.start, r.end, short(r.master), reps))
	}
	return strings.Join(parts, " ")
}

// covered returns the number of slots the map assigns.
func (t topology) covered() int {
	n := 0
	for _, r := range t {
		n += r.end - r.start + 1
	}
	return n
}

// owner returns the master id owning slot, or "".
func (t topology) owner(slot int) string {
	i := sort.Search(len(t), func(i int) bool { return t[i].end >= slot })
	if i < len(t) && t[i].start <= slot {
		return t[i].master
	}
	return ""
}

// rangesOf returns the slot ranges master id owns.
func (t topology) rangesOf(id string) []slotRange {
	var rs []slotRange
	for _, r := range t {
		if r.master == id {
			rs = append(rs, r)
		}
	}
	return rs
}

// takenOver checks that none of rs, old's slots in an earlier map, is old's in t any more, nor
// unowned, and returns old's successor: of the masters that own some of them now, one listed in
// rs as old's replica, else the one that owns the most. Slots migrated to a third master meanwhile
// belong to that one, and do not hold up the wait.
func (t topology) takenOver(old string, rs []slotRange) (string, error) {
	owned := map[string]int{}
	for _, r := range rs {
		for s := r.start; s <= r.end; s++ {
			switch id := t.owner(s); id {
			case old:
				return "", fmt.Errorf("slot %d still belongs to %s", s, old)
			case "":
				return "", fmt.Errorf("slot %d belongs to no one", s)
			default:
				owned[id]++
			}
		}
	}
	replica := func(id string) bool {
		return slices.ContainsFunc(rs, func(r slotRange) bool { return slices.Contains(r.replicas, id) })
	}
	best := ""
	for id, n := range owned {
		switch {
		case best == "", replica(id) && !replica(best):
		case replica(best) && !replica(id):
			continue
		case n < owned[best], n == owned[best] && id > best:
			continue
		}
		best = id
	}
	return best, nil
}

// listed reports whether id appears in t, as a master or as a replica.
func (t topology) listed(id string) bool {
	for _, r := range t {
		if r.master == id || slices.Contains(r.replicas, id) {
			return true
		}
	}
	return false
}

// nodeView is what the readiness check reads from one node.
type nodeView struct {
	state  string // cluster_state
	known  int    // cluster_known_nodes
	topo   topology
	role   string
	linkUp bool // master_link_status:up (replicas)
}

// view reads CLUSTER INFO, CLUSTER SLOTS and INFO replication from n and records its role.
func (n *Node) view(ctx context.Context) (nodeView, error) {
	var v nodeView
	info, err := n.Do(ctx, "CLUSTER", "INFO")
	if err != nil {
		return v, err
	}
	fields := parseInfo(info)
	v.state = fields["cluster_state"]
	v.known, _ = strconv.Atoi(fields["cluster_known_nodes"])
	slots, err := n.Do(ctx, "CLUSTER", "SLOTS")
	if err != nil {
		return v, err
	}
	if v.topo, err = parseSlots(slots); err != nil {
		return v, fmt.Errorf("testcluster: %s: %w", n.Addr(), err)
	}
	repl, err := n.Do(ctx, "INFO", "replication")
	if err != nil {
		return v, err
	}
	fields = parseInfo(repl)
	v.role = RoleMaster
	if fields["role"] == "slave" {
		v.role = RoleReplica
		v.linkUp = fields["master_link_status"] == "up"
	}
	n.setRole(v.role)
	return v, nil
}

// checkReady returns the agreed slot map when the running nodes are ready: each reports cluster_state:ok
// and knows every node, all report the same CLUSTER SLOTS (masters and replicas), the map covers all
// slots, every replica's link to its master is up and every replica is listed in the map.
func (c *Cluster) checkReady(ctx context.Context) (topology, error) {
	var ref topology
	var refNode *Node
	var replicas []*Node
	for _, n := range c.nodes {
		if !n.member() {
			continue
		}
		v, err := n.view(ctx)
		switch {
		case err != nil:
			return nil, err
		case v.state != "ok":
			return nil, fmt.Errorf("%s reports cluster_state:%s", n.Addr(), v.state)
		case v.known != len(c.nodes)-c.detachedCount():
			return nil, fmt.Errorf("%s knows %d nodes, not %d", n.Addr(), v.known, len(c.nodes)-c.detachedCount())
		case v.role == RoleReplica && !v.linkUp:
			return nil, fmt.Errorf("replica %s: master_link_status is not up", n.Addr())
		}
		if v.role == RoleReplica {
			replicas = append(replicas, n)
		}
		if refNode == nil {
			ref, refNode = v.topo, n
		} else if v.topo.key() != ref.key() {
			return nil, fmt.Errorf("%s and %s disagree on CLUSTER SLOTS: %v versus %v",
				refNode.Addr(), n.Addr(), ref, v.topo)
		}
	}
	if refNode == nil {
		return nil, permanent(errors.New("no node is running"))
	}
	if got := ref.covered(); got != NumSlots {
		return nil, fmt.Errorf("CLUSTER SLOTS covers %d slots, not %d", got, NumSlots)
	}
	for _, r := range replicas {
		if !ref.listed(r.ID()) {
			return nil, fmt.Errorf("replica %s is not yet listed in CLUSTER SLOTS", r.Addr())
		}
	}
	return ref, nil
}

// waitReady polls until checkReady succeeds and cond (when not nil) accepts the agreed map; it records
// and returns that map.
func (c *Cluster) waitReady(ctx context.Context, what string, cond func(topology) error) (topology, error) {
	var agreed topology
	err := poll(ctx, what, func(ctx context.Context) error {
		t, err := c.checkReady(ctx)
		if err != nil {
			return err
		}
		if cond != nil {
			if err := cond(t); err != nil {
				return err
			}
		}
		agreed = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.setTopology(agreed)
	return agreed, nil
}

// WaitForReady waits until every running node reports cluster_state:ok, all agree on the slot map
// (masters and replicas, as CLUSTER SLOTS shows them) covering all 16384 slots, and every replica has
// master_link_status:up. Start, Restart, Failover and the migration helpers end with it; call it after
// changing the cluster by hand.
func (c *Cluster) WaitForReady(ctx context.Context) error {
	if err := c.checkStopped(); err != nil {
		return err
	}
	_, err := c.waitReady(ctx, "cluster ready", nil)
	return err
}

// permanentError stops poll at once.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// permanent marks err as not worth retrying in poll.
func permanent(err error) error { return permanentError{err} }

// poll calls check every pollInterval until it returns nil, returns a permanent error, or ctx is done (or
// pollLimit has passed, for a ctx without a deadline); the timeout error names what was awaited and the
// last reason it was not there yet.
func poll(ctx context.Context, what string, check func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		// A test that passed context.Background() still gets an error it can read, not the go test
		// timeout's panic, when the cluster never settles.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pollLimit)
		defer cancel()
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	start := time.Now()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		var pe permanentError
		if errors.As(err, &pe) {
			return fmt.Errorf("testcluster: %s: %w", what, pe.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testcluster: %s: gave up after %v: %w; last check: %v",
				what, time.Since(start).Round(time.Millisecond), context.Cause(ctx), err)
		case <-tick.C:
		}
	}
}
