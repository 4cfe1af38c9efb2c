package slotmap

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// candidates lists where to ask: the node the last MOVED named, then known masters serving slots,
// then other known nodes (replicas), then the roots, then the masters serving no slot, each group
// in random order. The node a MOVED named serves the slot, so it knows: another node may not have
// heard yet (a slot's migration ends with the two nodes it moved between), and its answer would
// take the slot back from the MOVED's patch until the next MOVED patched it again. A master
// serving none is asked last: one just met may answer before it has heard of every slot, and one
// removed from the cluster answers for itself alone.
func (a *mapActor) candidates() []string {
	seen := map[string]bool{}
	var out []string
	add := func(group []string) {
		rand.Shuffle(len(group), func(i, j int) { group[i], group[j] = group[j], group[i] })
		for _, addr := range group {
			if !seen[addr] {
				seen[addr] = true
				out = append(out, addr)
			}
		}
	}
	if a.movedTo != "" && !a.unreachable(a.movedTo) {
		add([]string{a.movedTo})
	}
	var empty []string
	if a.snap != nil {
		var masters, others []string
		for _, r := range a.snap.nodes {
			if a.unreachable(r.Addr) {
				continue
			}
			switch {
			case a.snap.isMaster(r.Addr):
				masters = append(masters, r.Addr)
			case r.Info.Role == "master":
				empty = append(empty, r.Addr)
			default:
				others = append(others, r.Addr)
			}
		}
		add(masters)
		add(others)
	}
	add(append([]string(nil), a.opts.Roots...))
	add(empty)
	return out
}

// wantSlots is how many slots a discovery's answer is to cover: those the map serves now, all of
// them for a first map.
func (a *mapActor) wantSlots() int {
	if a.snap == nil {
		return NumSlots
	}
	return a.snap.Covered()
}

// secondOpinion bounds how long a discovery whose first answer covered fewer slots than the map
// asks other candidates for a better one. With none in time, the answer is published only as a
// first map (see onDiscovered).
const secondOpinion = time.Second

// discover asks each candidate in turn for the topology (CLUSTER SHARDS, or CLUSTER SLOTS on
// servers without it) and returns the first valid answer covering at least want slots (those the
// map serves now; all of them for a first map), or every candidate's error. A node just met
// answers for a moment with only the masters it has heard of, which would take slots from the
// map, where slots leave a cluster only by CLUSTER DELSLOTS (a failed master keeps its slots in
// the answer). So an answer covering fewer is checked with one more: the answer of the next
// candidate to answer within secondOpinion, the one covering the most of the two taken (a
// cluster that does miss slots costs a second query, and a candidate that answers nothing at
// most secondOpinion, not QueryTimeout).
func discover(stop context.Context, opts Options, candidates []string, want int) *discovered {
	errs := &RootsError{Errors: map[string]error{}}
	var best *discovered
	bestCovered := -1
	ask := stop // the context of the queries: bounded by secondOpinion after a partial answer
	for _, addr := range candidates {
		if best != nil && ask.Err() != nil {
			break // no second answer in time
		}
		if err := stop.Err(); err != nil {
			errs.Order = append(errs.Order, addr)
			errs.Errors[addr] = err
			continue
		}
		no := opts.Node
		no.Addr = addr
		no.ReadOnly = false
		ctx, cancel := context.WithTimeout(ask, opts.QueryTimeout)
		shards, covered, err := queryShards(ctx, no)
		cancel()
		if err == nil {
			fillHosts(shards, addr)
			if covered >= want {
				return &discovered{shards: shards, from: addr}
			}
			if best != nil { // the second opinion: the better of the two
				if covered > bestCovered {
					best = &discovered{shards: shards, from: addr}
				}
				return best
			}
			best, bestCovered = &discovered{shards: shards, from: addr}, covered
			var cancelAsk context.CancelFunc
			ask, cancelAsk = context.WithTimeout(stop, secondOpinion)
			defer cancelAsk()
			continue
		}
		errs.Order = append(errs.Order, addr)
		errs.Errors[addr] = err
	}
	if best != nil {
		// No second answer in time; with no other candidate at all (a cluster of one node), there
		// is no one to confirm it, and the answer stands.
		best.unconfirmed, best.failures = len(errs.Order) > 0, errs
		return best
	}
	return &discovered{err: errs}
}

// fillHosts gives the servers announced without a host (an empty endpoint: "use the one you
// asked") the host of from, the node that answered; dialled as it is, ":port" would reach this
// machine.
func fillHosts(shards []Shard, from string) {
	host, _, err := net.SplitHostPort(from)
	if err != nil {
		return
	}
	for i := range shards {
		if shards[i].Master.Host == "" {
			shards[i].Master.Host = host
		}
		for j := range shards[i].Replicas {
			if shards[i].Replicas[j].Host == "" {
				shards[i].Replicas[j].Host = host
			}
		}
	}
}

// queryShards asks the node o names for the topology, and returns it with the number of slots it
// covers.
func queryShards(ctx context.Context, o node.Options) ([]Shard, int, error) {
	v, err := node.Query(ctx, o, "CLUSTER", "SHARDS")
	var parse func(resp.Value) ([]Shard, error) = ParseShards
	var se *resp.Error
	// A server before 7.0 does not know CLUSTER SHARDS; an ACL may deny it (NOPERM) and allow
	// CLUSTER SLOTS. Either way SLOTS says the same, less the nodes' health.
	if errors.As(err, &se) && (strings.Contains(strings.ToLower(se.Msg), "unknown subcommand") || errors.Is(err, resp.ErrNoPerm)) {
		shardsErr := err
		v, err = node.Query(ctx, o, "CLUSTER", "SLOTS")
		parse = ParseSlots
		if err != nil {
			err = fmt.Errorf("CLUSTER SLOTS: %w (after CLUSTER SHARDS: %w)", err, shardsErr)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	shards, err := parse(v)
	if err != nil {
		return nil, 0, err
	}
	covered, err := Validate(shards)
	if err != nil {
		return nil, 0, err
	}
	if !slices.ContainsFunc(shards, func(sh Shard) bool { return len(sh.Ranges) > 0 }) {
		// A node of no cluster (not yet met, or removed: reset and left running) lists itself
		// alone, as a master with no slots.
		return nil, 0, errors.New("the node reports no slots assigned (is the cluster formed? is the node one of it?)")
	}
	return shards, covered, nil
}
