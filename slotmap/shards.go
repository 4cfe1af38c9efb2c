package slotmap

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/actoredis/actoredis/resp"
)

// UnknownHost is the endpoint a node announces when it has none of the kind the cluster prefers:
// the node cannot be reached by it.
const UnknownHost = "?"

// NodeInfo is one server as the cluster announces it (before any address mapping).
type NodeInfo struct {
	// ID is the node id; "" when CLUSTER SLOTS gives none.
	ID string
	// Host is the announced endpoint: from CLUSTER SHARDS the "endpoint" field (the "ip" field when
	// there is no endpoint field), from CLUSTER SLOTS the first element of the node. It may be "?"
	// (the server does not know the endpoint), a hostname, or "" (an empty or null endpoint:
	// cluster-preferred-endpoint-type unknown-endpoint, meaning the host the reply came from).
	Host string
	// Port is the plain port; for a TLS-only server, which has no plain port, its TLS port.
	Port int
	// TLSPort is the TLS port when CLUSTER SHARDS lists one ("tls-port"), else 0. A server with
	// both lists both; a client using TLS dials this one.
	TLSPort int
	// Role is "master" or "replica".
	Role string
	// Health is "online", "fail" or "loading" (Redis 7.0); always "online" from CLUSTER SLOTS,
	// which lists no health.
	Health string
}

// Reachable reports whether n announces a way to reach it: an endpoint other than UnknownHost,
// and a port.
func (n NodeInfo) Reachable() bool { return n.Host != UnknownHost && n.Port != 0 }

// Addr returns Host and Port joined as "host:port" ("[::1]:port" for an IPv6 host).
func (n NodeInfo) Addr() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

// Shard is one shard: its slot ranges (inclusive start, end), its master and its replicas.
type Shard struct {
	Ranges   [][2]int
	Master   NodeInfo
	Replicas []NodeInfo
}

// ParseShards reads a CLUSTER SHARDS reply, RESP3 (maps) or RESP2 (flat key/value arrays) alike.
//
// Shards without a master are skipped. Those of masters that hold no slots (a node just added to
// the cluster, or one emptied before its removal; a master that failed and was replaced) are kept,
// with no ranges. When a shard names several masters (a failed master not yet demoted
// next to the replica that replaced it), the first online one is kept and the others are dropped.
// Unknown fields are ignored; an unexpected shape is an error naming what was wrong, and a server
// error reply is returned wrapped (errors.Is matches resp's sentinels).
//
// The result owns its memory: it stays valid after v's Reader reads again.
func ParseShards(v resp.Value) ([]Shard, error) {
	list, err := topologyList(v, "CLUSTER SHARDS")
	if err != nil {
		return nil, err
	}
	shards := make([]Shard, 0, len(list))
	for i, sv := range list {
		sh, ok, err := parseShardEntry(sv)
		if err != nil {
			return nil, fmt.Errorf("slotmap: CLUSTER SHARDS reply: shard %d: %w", i, err)
		}
		if ok {
			shards = append(shards, sh)
		}
	}
	return shards, nil
}

// parseShardEntry reads one shard of CLUSTER SHARDS; ok is false for a shard to skip.
func parseShardEntry(v resp.Value) (sh Shard, ok bool, err error) {
	pairs, err := v.Pairs()
	if err != nil {
		return Shard{}, false, fmt.Errorf("%s of %d elements is not a map", v.Kind(), v.Len())
	}
	var slots, nodes resp.Value
	var haveSlots, haveNodes bool
	for j := 0; j < len(pairs); j += 2 {
		switch string(pairs[j].Bytes()) {
		case "slots":
			slots, haveSlots = pairs[j+1], true
		case "nodes":
			nodes, haveNodes = pairs[j+1], true
		}
	}
	if !haveSlots || !haveNodes {
		return Shard{}, false, fmt.Errorf(`missing "slots" or "nodes" field in %s`, v.String())
	}
	if k := slots.Kind(); k != resp.KindArray && k != resp.KindSet {
		return Shard{}, false, fmt.Errorf(`"slots" is a %s, not an array`, k)
	}
	flat := slots.Array()
	if len(flat)%2 != 0 {
		return Shard{}, false, fmt.Errorf(`"slots" has %d elements, not start/end pairs`, len(flat))
	}
	for j := 0; j < len(flat); j += 2 {
		r, err := slotRange(flat[j], flat[j+1])
		if err != nil {
			return Shard{}, false, fmt.Errorf(`"slots": %w`, err)
		}
		sh.Ranges = append(sh.Ranges, r)
	}
	if k := nodes.Kind(); k != resp.KindArray && k != resp.KindSet {
		return Shard{}, false, fmt.Errorf(`"nodes" is a %s, not an array`, k)
	}
	haveMaster := false
	for k, nv := range nodes.Array() {
		n, err := parseShardNode(nv)
		if err != nil {
			return Shard{}, false, fmt.Errorf("node %d: %w", k, err)
		}
		switch {
		case n.Role == "replica":
			sh.Replicas = append(sh.Replicas, n)
		case !haveMaster || (sh.Master.Health != "online" && n.Health == "online"):
			sh.Master, haveMaster = n, true
		}
	}
	if !haveMaster {
		return Shard{}, false, nil
	}
	return sh, true, nil
}

// parseShardNode reads one node of a CLUSTER SHARDS shard.
func parseShardNode(v resp.Value) (NodeInfo, error) {
	pairs, err := v.Pairs()
	if err != nil {
		return NodeInfo{}, fmt.Errorf("%s of %d elements is not a map", v.Kind(), v.Len())
	}
	var n NodeInfo
	var ip, endpoint string
	var port, tlsPort int
	haveEndpoint := false
	for j := 0; j < len(pairs); j += 2 {
		key, val := string(pairs[j].Bytes()), pairs[j+1]
		var dst *string
		switch key {
		case "id":
			dst = &n.ID
		case "ip":
			dst = &ip
		case "endpoint":
			dst, haveEndpoint = &endpoint, true
		case "role":
			dst = &n.Role
		case "health":
			dst = &n.Health
		case "port", "tls-port":
			p, err := portNumber(val)
			if err != nil {
				return NodeInfo{}, fmt.Errorf("%q: %w", key, err)
			}
			if key == "port" {
				port = p
			} else {
				tlsPort = p
			}
		}
		if dst != nil {
			s, err := text(val)
			if err != nil {
				return NodeInfo{}, fmt.Errorf("%q: %w", key, err)
			}
			*dst = s
		}
	}
	if n.ID == "" {
		return NodeInfo{}, fmt.Errorf(`no "id" in %s`, v.String())
	}
	switch n.Role {
	case "master", "replica":
	case "slave":
		n.Role = "replica"
	default:
		return NodeInfo{}, fmt.Errorf("node %s has role %q, not master or replica", n.ID, n.Role)
	}
	n.Port, n.TLSPort = port, tlsPort
	if n.Port == 0 {
		n.Port = tlsPort
	}
	if n.Port == 0 {
		return NodeInfo{}, fmt.Errorf(`node %s has no "port" nor "tls-port"`, n.ID)
	}
	// An empty endpoint (cluster-preferred-endpoint-type unknown-endpoint) means "the host you
	// reached me by", as CLUSTER SLOTS's null host and a MOVED to ":port" do: kept empty for the
	// discovery to fill in. The ip is the node's own address, which the operator has just said
	// clients should not use; it stands in only for a reply with no endpoint field at all.
	n.Host = endpoint
	if !haveEndpoint {
		n.Host = ip
	}
	if n.Health == "" {
		n.Health = "online"
	}
	return n, nil
}

// ParseSlots reads a CLUSTER SLOTS reply (RESP2 or RESP3) into shards, one per distinct master (by
// id, or by address when the reply gives no id), in the order the masters first appear. Each entry
// is [start, end, [host, port, id, ...metadata], replicas...]; the entries of one master are merged
// into one Shard with several Ranges, and the replicas of all its entries are merged. Every node is
// "online". A null host is kept as "" (the server means the address the reply came from).
//
// As with ParseShards, an unexpected shape is an error naming what was wrong, a server error reply
// is returned wrapped, and the result owns its memory.
func ParseSlots(v resp.Value) ([]Shard, error) {
	list, err := topologyList(v, "CLUSTER SLOTS")
	if err != nil {
		return nil, err
	}
	var shards []Shard
	byMaster := make(map[string]int) // master id (or address) → index in shards
	for i, ev := range list {
		if err := addSlotsEntry(ev, &shards, byMaster); err != nil {
			return nil, fmt.Errorf("slotmap: CLUSTER SLOTS reply: entry %d: %w", i, err)
		}
	}
	return shards, nil
}

// addSlotsEntry reads one CLUSTER SLOTS entry and adds it to shards.
func addSlotsEntry(v resp.Value, shards *[]Shard, byMaster map[string]int) error {
	if k := v.Kind(); k != resp.KindArray || v.Len() < 3 {
		return fmt.Errorf("%s of %d elements is not [start, end, master, replicas...]", k, v.Len())
	}
	r, err := slotRange(v.Index(0), v.Index(1))
	if err != nil {
		return err
	}
	elems := v.Array()
	nodes := make([]NodeInfo, len(elems)-2)
	for k := range nodes {
		n, err := parseSlotsNode(elems[k+2])
		if err != nil {
			return fmt.Errorf("node %d: %w", k, err)
		}
		n.Role = "replica"
		nodes[k] = n
	}
	master := nodes[0]
	master.Role = "master"
	key := nodeKey(master)
	i, seen := byMaster[key]
	if !seen {
		var replicas []NodeInfo
		if len(nodes) > 1 {
			replicas = nodes[1:]
		}
		byMaster[key] = len(*shards)
		*shards = append(*shards, Shard{Ranges: [][2]int{r}, Master: master, Replicas: replicas})
		return nil
	}
	sh := &(*shards)[i]
	sh.Ranges = append(sh.Ranges, r)
next:
	for _, n := range nodes[1:] {
		for _, known := range sh.Replicas {
			if nodeKey(known) == nodeKey(n) {
				continue next
			}
		}
		sh.Replicas = append(sh.Replicas, n)
	}
	return nil
}

// parseSlotsNode reads one [host, port, id, metadata] node of a CLUSTER SLOTS entry.
func parseSlotsNode(v resp.Value) (NodeInfo, error) {
	if k := v.Kind(); k != resp.KindArray || v.Len() < 2 {
		return NodeInfo{}, fmt.Errorf("%s of %d elements is not [host, port, id...]", k, v.Len())
	}
	host, err := text(v.Index(0))
	if err != nil {
		return NodeInfo{}, fmt.Errorf("host: %w", err)
	}
	port, err := portNumber(v.Index(1))
	if err == nil && port == 0 {
		err = fmt.Errorf("port 0 is not a port")
	}
	if err != nil {
		return NodeInfo{}, fmt.Errorf("port: %w", err)
	}
	n := NodeInfo{Host: host, Port: port, Health: "online"}
	if v.Len() > 2 {
		if n.ID, err = text(v.Index(2)); err != nil {
			return NodeInfo{}, fmt.Errorf("id: %w", err)
		}
	}
	return n, nil
}

// nodeKey identifies a node of a CLUSTER SLOTS reply: its id, or its address when it has none.
func nodeKey(n NodeInfo) string {
	if n.ID != "" {
		return n.ID
	}
	return n.Addr()
}

// Validate checks that every range lies in 0..16383 with its start not after its end, and that no
// slot is claimed twice (by two shards, or twice by one). It returns how many slots are covered;
// NumSlots means the shards cover the whole key space.
func Validate(shards []Shard) (covered int, err error) {
	var owner [NumSlots]int32 // 1 + the index of the shard that claimed the slot; 0 when unclaimed
	for i, sh := range shards {
		for _, r := range sh.Ranges {
			start, end := r[0], r[1]
			if start < 0 || end >= NumSlots || start > end {
				return 0, fmt.Errorf("slotmap: shard %d (master %s): slot range %d-%d is not within 0-%d",
					i, sh.Master.Addr(), start, end, NumSlots-1)
			}
			for s := start; s <= end; s++ {
				if o := int(owner[s]) - 1; o == i {
					return 0, fmt.Errorf("slotmap: shard %d (master %s) claims slot %d twice", i, sh.Master.Addr(), s)
				} else if o >= 0 {
					return 0, fmt.Errorf("slotmap: slot %d is claimed by shard %d (master %s) and by shard %d (master %s)",
						s, o, shards[o].Master.Addr(), i, sh.Master.Addr())
				}
				owner[s] = int32(i + 1)
			}
			covered += end - start + 1
		}
	}
	return covered, nil
}

// topologyList returns the elements of a CLUSTER SHARDS or CLUSTER SLOTS reply.
func topologyList(v resp.Value, cmd string) ([]resp.Value, error) {
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("slotmap: %s: %w", cmd, err)
	}
	if k := v.Kind(); k != resp.KindArray && k != resp.KindSet {
		return nil, fmt.Errorf("slotmap: %s reply is a %s, not an array", cmd, k)
	}
	return v.Array(), nil
}

// slotRange reads an inclusive start, end pair of slots.
func slotRange(startV, endV resp.Value) ([2]int, error) {
	start, err1 := startV.Int64()
	end, err2 := endV.Int64()
	if err1 != nil || err2 != nil {
		return [2]int{}, fmt.Errorf("slot range %s-%s is not two integers", startV.String(), endV.String())
	}
	if start < 0 || end >= NumSlots || start > end {
		return [2]int{}, fmt.Errorf("slot range %d-%d is not within 0-%d", start, end, NumSlots-1)
	}
	return [2]int{int(start), int(end)}, nil
}

// portNumber reads a TCP port, 0..65535 (as an integer, or as text holding one); 0 means none.
func portNumber(v resp.Value) (int, error) {
	p, err := v.Int64()
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("%s %q is not a port", v.Kind(), v.String())
	}
	return int(p), nil
}

// text returns a string-like value as an owned string, and a null as "".
func text(v resp.Value) (string, error) {
	switch v.Kind() {
	case resp.KindSimpleString, resp.KindBulkString, resp.KindVerbatim:
		return string(v.Bytes()), nil
	case resp.KindNull:
		return "", nil
	}
	return "", fmt.Errorf("%s %s is not a string", v.Kind(), v.String())
}

// canonicalOrder sorts shards by their first slot (those serving none last, by their master's
// address), their ranges by start, and each shard's replicas by address. Every node lists CLUSTER SHARDS in an order of its own (a walk of its node table,
// hashed with a seed of its own): in one order, the same cluster read from two nodes makes the
// same map.
func canonicalOrder(shards []Shard) {
	for i := range shards {
		slices.SortFunc(shards[i].Ranges, func(a, b [2]int) int { return cmp.Compare(a[0], b[0]) })
		slices.SortFunc(shards[i].Replicas, func(a, b NodeInfo) int { return strings.Compare(a.Addr(), b.Addr()) })
	}
	first := func(sh Shard) int {
		if len(sh.Ranges) == 0 {
			return NumSlots
		}
		return sh.Ranges[0][0]
	}
	// Shards serving no slot tie on their first slot: by their master's address then, or each node's
	// order would make a new map of the same cluster.
	slices.SortStableFunc(shards, func(a, b Shard) int {
		return cmp.Or(cmp.Compare(first(a), first(b)), strings.Compare(a.Master.Addr(), b.Master.Addr()))
	})
}
