package slotmap

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/resp"
)

// TestRealCluster runs everything that needs a plain 3×1 cluster on one cluster.
func TestRealCluster(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{})

	t.Run("KEYSLOT", func(t *testing.T) {
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		keys := append(randomKeys(rand.New(rand.NewPCG(seed, 3)), 10000),
			"", "123456789", "foo", "bar", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}")
		n := checkKeySlots(t, dialRaw(t, c.Nodes()[0].Addr(), nil, false), keys)
		t.Logf("%d keys compared with CLUSTER KEYSLOT", n)
	})

	owners := map[string][]string{}
	for _, resp3 := range []bool{false, true} {
		conn := dialRaw(t, c.Masters()[1].Addr(), nil, resp3)
		proto := map[bool]string{false: "RESP2", true: "RESP3"}[resp3]
		t.Run("SHARDS/"+proto, func(t *testing.T) {
			reply := conn.do("CLUSTER", "SHARDS")
			if resp3 {
				require.Equal(t, resp.KindMap, reply.Index(0).Kind())
			} else {
				require.Equal(t, resp.KindArray, reply.Index(0).Kind())
			}
			shards, err := ParseShards(reply)
			require.NoError(t, err)
			checkRealShards(t, c, shards)
			owners["SHARDS/"+proto] = slotOwners(shards)
		})
		t.Run("SLOTS/"+proto, func(t *testing.T) {
			shards, err := ParseSlots(conn.do("CLUSTER", "SLOTS"))
			require.NoError(t, err)
			checkRealShards(t, c, shards)
			owners["SLOTS/"+proto] = slotOwners(shards)
		})
	}
	require.Len(t, owners, 4)
	for name, o := range owners {
		assert.Equal(t, owners["SHARDS/RESP3"], o, "%s disagrees with SHARDS/RESP3", name)
	}
}

// checkRealShards checks parsed shards against the harness's view of a 3×1 cluster.
func checkRealShards(t *testing.T, c *testcluster.Cluster, shards []Shard) {
	t.Helper()
	require.Len(t, shards, 3)
	covered, err := Validate(shards)
	require.NoError(t, err)
	require.Equal(t, NumSlots, covered)
	for _, sh := range shards {
		m := c.NodeByAddr(sh.Master.Addr())
		require.NotNil(t, m, "master %s is not a cluster node", sh.Master.Addr())
		assert.True(t, m.IsMaster())
		assert.Equal(t, m.ID(), sh.Master.ID)
		assert.Equal(t, NodeInfo{ID: m.ID(), Host: "127.0.0.1", Port: m.Port(), Role: "master", Health: "online"}, sh.Master)
		for _, r := range sh.Ranges {
			assert.Same(t, m, c.MasterFor(r[0]))
			assert.Same(t, m, c.MasterFor(r[1]))
		}
		require.Len(t, sh.Replicas, 1)
		rep := c.ReplicasOf(m)
		require.Len(t, rep, 1)
		assert.Equal(t, NodeInfo{ID: rep[0].ID(), Host: "127.0.0.1", Port: rep[0].Port(), Role: "replica", Health: "online"},
			sh.Replicas[0])
	}
}

// slotOwners returns the master id of every slot.
func slotOwners(shards []Shard) []string {
	owners := make([]string, NumSlots)
	for _, sh := range shards {
		for _, r := range sh.Ranges {
			for s := r[0]; s <= r[1]; s++ {
				owners[s] = sh.Master.ID
			}
		}
	}
	return owners
}

// TestRealClusterTLSHostnames reads the replies of a TLS-only cluster whose first node announces a
// hostname and whose second announces none (endpoint "?").
func TestRealClusterTLSHostnames(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{
		Masters: 2, Replicas: testcluster.NoReplicas, TLS: true,
		AnnounceHostname: func(i int) string { return map[int]string{0: "n0.invalid"}[i] },
	})
	n0, n1 := c.Nodes()[0], c.Nodes()[1]
	want := map[string]NodeInfo{
		n0.ID(): {ID: n0.ID(), Host: "n0.invalid", Port: n0.Port(), Role: "master", Health: "online"},
		n1.ID(): {ID: n1.ID(), Host: "?", Port: n1.Port(), Role: "master", Health: "online"},
	}
	for _, resp3 := range []bool{false, true} {
		conn := dialRaw(t, n1.Addr(), c.TLSConfig(), resp3)
		for cmd, parse := range map[string]func(resp.Value) ([]Shard, error){"SHARDS": ParseShards, "SLOTS": ParseSlots} {
			reply := conn.do("CLUSTER", cmd)
			shards, err := parse(reply)
			require.NoError(t, err, "%s", reply)
			require.Len(t, shards, 2, "%s", reply)
			covered, err := Validate(shards)
			require.NoError(t, err)
			require.Equal(t, NumSlots, covered)
			for _, sh := range shards {
				got := sh.Master
				if cmd == "SHARDS" { // a TLS-only server: its TLS port is its port
					assert.Equal(t, got.Port, got.TLSPort)
					got.TLSPort = 0
				}
				assert.Equal(t, want[sh.Master.ID], got, "CLUSTER %s (RESP3 %v): %s", cmd, resp3, reply)
				assert.Empty(t, sh.Replicas)
			}
		}
	}
}

// obj builds a RESP3 map, or the RESP2 flat array of the same pairs.
func obj(resp3 bool, kv ...resp.Value) resp.Value {
	if resp3 {
		return resp.Map(kv...)
	}
	return resp.Array(kv...)
}

var (
	bs  = resp.BulkString
	num = resp.Integer
)

func ints(ns ...int64) resp.Value {
	vs := make([]resp.Value, len(ns))
	for i, n := range ns {
		vs[i] = num(n)
	}
	return resp.Array(vs...)
}

// shardNode builds a CLUSTER SHARDS node; extra pairs are appended and may repeat (override) a field.
func shardNode(resp3 bool, id, role string, extra ...resp.Value) resp.Value {
	kv := []resp.Value{bs("id"), bs(id), bs("port"), num(7000), bs("ip"), bs("10.0.0.1"),
		bs("endpoint"), bs("10.0.0.1"), bs("role"), bs(role), bs("replication-offset"), num(42),
		bs("health"), bs("online")}
	return obj(resp3, append(kv, extra...)...)
}

func shard(resp3 bool, slots resp.Value, nodes ...resp.Value) resp.Value {
	return obj(resp3, bs("slots"), slots, bs("nodes"), resp.Array(nodes...))
}

func TestParseShardsHandMade(t *testing.T) {
	for _, resp3 := range []bool{false, true} {
		reply := resp.Array(
			// endpoint "?" is kept; a replica that only has a TLS port.
			shard(resp3, ints(0, 99, 200, 299),
				shardNode(resp3, "m1", "master", bs("endpoint"), bs("?")),
				obj(resp3, bs("id"), bs("r1"), bs("tls-port"), num(7443), bs("ip"), bs("10.0.0.2"),
					bs("endpoint"), bs("r1.example"), bs("hostname"), bs("r1.example"), bs("role"), bs("replica"),
					bs("health"), bs("loading"))),
			// a master with no slots: kept, with no ranges.
			shard(resp3, ints(), shardNode(resp3, "empty", "master")),
			// no master (only a replica): skipped.
			shard(resp3, ints(500, 500), shardNode(resp3, "orphan", "replica")),
			// empty endpoint: kept empty, not the ip; a failed master before the online one that replaced it; ports as text.
			shard(resp3, ints(100, 199),
				shardNode(resp3, "old", "master", bs("health"), bs("failed")),
				shardNode(resp3, "m2", "master", bs("endpoint"), bs(""), bs("ip"), bs("::1"), bs("port"), bs("7002"),
					bs("tls-port"), num(7443), bs("unknown-field"), resp.Array())),
		)
		shards, err := ParseShards(reply)
		require.NoError(t, err)
		require.Equal(t, []Shard{
			{
				Ranges:   [][2]int{{0, 99}, {200, 299}},
				Master:   NodeInfo{ID: "m1", Host: "?", Port: 7000, Role: "master", Health: "online"},
				Replicas: []NodeInfo{{ID: "r1", Host: "r1.example", Port: 7443, TLSPort: 7443, Role: "replica", Health: "loading"}},
			},
			{
				Master: NodeInfo{ID: "empty", Host: "10.0.0.1", Port: 7000, Role: "master", Health: "online"},
			},
			{
				Ranges: [][2]int{{100, 199}},
				Master: NodeInfo{ID: "m2", Host: "", Port: 7002, TLSPort: 7443, Role: "master", Health: "online"},
			},
		}, shards, "RESP3 %v", resp3)
		assert.Equal(t, "?:7000", shards[0].Master.Addr())
		assert.Equal(t, ":7002", shards[2].Master.Addr())
		covered, err := Validate(shards)
		require.NoError(t, err)
		assert.Equal(t, 300, covered)
	}
	shards, err := ParseShards(resp.Array())
	require.NoError(t, err)
	assert.Empty(t, shards)
}

func TestParseShardsMalformed(t *testing.T) {
	good := func() []resp.Value { return []resp.Value{bs("slots"), ints(0, 1), bs("nodes")} }
	node := func(kv ...resp.Value) resp.Value {
		return resp.Map(append([]resp.Value{bs("id"), bs("x"), bs("port"), num(1), bs("role"), bs("master")}, kv...)...)
	}
	cases := []struct {
		name  string
		reply resp.Value
		want  string
	}{
		{"null", resp.Null(), "is a null, not an array"},
		{"string", bs("nope"), "is a bulk string, not an array"},
		{"shard not a map", resp.Array(resp.Array(bs("slots"))), "shard 0: array of 1 elements is not a map"},
		{"no nodes", resp.Array(resp.Map(bs("slots"), ints(0, 1))), `missing "slots" or "nodes"`},
		{"slots not array", resp.Array(resp.Map(bs("slots"), num(3), bs("nodes"), resp.Array())), `"slots" is a integer`},
		{"odd slots", resp.Array(resp.Map(bs("slots"), ints(0, 1, 2), bs("nodes"), resp.Array())), "3 elements"},
		{"slot text", resp.Array(resp.Map(bs("slots"), resp.Array(bs("a"), num(1)), bs("nodes"), resp.Array())), "not two integers"},
		{"slot range", resp.Array(resp.Map(bs("slots"), ints(0, 16384), bs("nodes"), resp.Array())), "0-16384 is not within 0-16383"},
		{"reversed", resp.Array(resp.Map(bs("slots"), ints(9, 8), bs("nodes"), resp.Array())), "9-8"},
		{"nodes not array", resp.Array(resp.Map(append(good(), bs("x"))...)), `"nodes" is a bulk string`},
		{"node not map", resp.Array(resp.Map(append(good(), resp.Array(num(1)))...)), "node 0: integer of 0 elements is not a map"},
		{"no id", resp.Array(resp.Map(append(good(), resp.Array(resp.Map(bs("port"), num(1), bs("role"), bs("master"))))...)), `no "id"`},
		{"id not text", resp.Array(resp.Map(append(good(), resp.Array(node(bs("id"), resp.Array())))...)), `"id": array [] is not a string`},
		{"bad role", resp.Array(resp.Map(append(good(), resp.Array(node(bs("role"), bs("arbiter"))))...)), `role "arbiter"`},
		{"no port", resp.Array(resp.Map(append(good(), resp.Array(node(bs("port"), num(0))))...)), `no "port" nor "tls-port"`},
		{"bad port", resp.Array(resp.Map(append(good(), resp.Array(node(bs("port"), bs("http"))))...)), `"port": bulk string "http" is not a port`},
		{"huge port", resp.Array(resp.Map(append(good(), resp.Array(node(bs("tls-port"), num(70000))))...)), `"tls-port"`},
	}
	for _, c := range cases {
		_, err := ParseShards(c.reply)
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
		assert.Contains(t, err.Error(), "slotmap: CLUSTER SHARDS", c.name)
	}

	// A server error is returned wrapped: the caller can tell "unknown subcommand" (fall back to
	// CLUSTER SLOTS) from a malformed reply.
	_, err := ParseShards(resp.ErrorValue("ERR", "unknown subcommand 'SHARDS'"))
	var re *resp.Error
	require.True(t, errors.As(err, &re), "%v", err)
	assert.Equal(t, "ERR", re.Prefix)
	_, err = ParseSlots(resp.ErrorValue("CLUSTERDOWN", "the cluster is down"))
	assert.ErrorIs(t, err, resp.ErrClusterDown)
}

func slotsNode(host resp.Value, port int64, id string, meta ...resp.Value) resp.Value {
	n := []resp.Value{host, num(port)}
	if id != "" {
		n = append(n, bs(id))
	}
	return resp.Array(append(n, meta...)...)
}

func TestParseSlotsHandMade(t *testing.T) {
	reply := resp.Array(
		resp.Array(num(0), num(99), slotsNode(bs("h1"), 7001, "m1", resp.Map()), slotsNode(bs("h2"), 7002, "r1", resp.Array())),
		resp.Array(num(100), num(199), slotsNode(resp.Null(), 7003, "m2", resp.Map(bs("hostname"), bs("x")))),
		// m1 again: merged, its known replica not repeated, the new one added.
		resp.Array(num(300), num(300), slotsNode(bs("h1"), 7001, "m1"), slotsNode(bs("h2"), 7002, "r1"),
			slotsNode(bs("h4"), 7004, "r2")),
		// no ids (servers before 4.0): shards keyed by address.
		resp.Array(num(400), num(409), slotsNode(bs("?"), 7005, "")),
		resp.Array(num(410), num(419), slotsNode(bs("?"), 7005, "")),
	)
	shards, err := ParseSlots(reply)
	require.NoError(t, err)
	online := func(id, host string, port int, role string) NodeInfo {
		return NodeInfo{ID: id, Host: host, Port: port, Role: role, Health: "online"}
	}
	require.Equal(t, []Shard{
		{
			Ranges: [][2]int{{0, 99}, {300, 300}},
			Master: online("m1", "h1", 7001, "master"),
			Replicas: []NodeInfo{online("r1", "h2", 7002, "replica"),
				online("r2", "h4", 7004, "replica")},
		},
		{Ranges: [][2]int{{100, 199}}, Master: online("m2", "", 7003, "master")},
		{Ranges: [][2]int{{400, 409}, {410, 419}}, Master: online("", "?", 7005, "master")},
	}, shards)

	shards, err = ParseSlots(resp.Array())
	require.NoError(t, err)
	assert.Empty(t, shards)

	cases := []struct {
		name  string
		reply resp.Value
		want  string
	}{
		{"map", resp.Map(), "reply is a map, not an array"},
		{"short entry", resp.Array(resp.Array(num(0), num(1))), "entry 0: array of 2 elements"},
		{"bad range", resp.Array(resp.Array(num(5), num(16384), slotsNode(bs("h"), 1, "a"))), "5-16384"},
		{"short node", resp.Array(resp.Array(num(0), num(1), resp.Array(bs("h")))), "node 0: array of 1 elements"},
		{"host", resp.Array(resp.Array(num(0), num(1), slotsNode(num(1), 1, "a"))), "host: integer 1 is not a string"},
		{"port", resp.Array(resp.Array(num(0), num(1), slotsNode(bs("h"), 0, "a"))), "port: port 0 is not a port"},
		{"id", resp.Array(resp.Array(num(0), num(1), bs("x"), resp.Array(bs("h"), num(1), num(2)))), "node 0: bulk string"},
		{"replica id", resp.Array(resp.Array(num(0), num(1), slotsNode(bs("h"), 1, "a"), resp.Array(bs("h"), num(1), num(2)))), "node 1: id: integer 2"},
	}
	for _, c := range cases {
		_, err := ParseSlots(c.reply)
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
		assert.Contains(t, err.Error(), "slotmap: CLUSTER SLOTS", c.name)
	}
}

func TestValidate(t *testing.T) {
	sh := func(port int, ranges ...[2]int) Shard {
		return Shard{Ranges: ranges, Master: NodeInfo{Host: "h", Port: port}}
	}
	covered, err := Validate(nil)
	require.NoError(t, err)
	assert.Zero(t, covered)

	covered, err = Validate([]Shard{sh(1, [2]int{0, 8191}), sh(2, [2]int{8192, 16382}, [2]int{16383, 16383})})
	require.NoError(t, err)
	assert.Equal(t, NumSlots, covered)

	covered, err = Validate([]Shard{sh(1, [2]int{10, 19}), sh(2, [2]int{30, 30})})
	require.NoError(t, err)
	assert.Equal(t, 11, covered)

	cases := []struct {
		name   string
		shards []Shard
		want   string
	}{
		{"overlap", []Shard{sh(1, [2]int{0, 100}), sh(2, [2]int{200, 300}, [2]int{100, 150})},
			"slot 100 is claimed by shard 0 (master h:1) and by shard 1 (master h:2)"},
		{"twice", []Shard{sh(1, [2]int{0, 10}, [2]int{5, 5})}, "shard 0 (master h:1) claims slot 5 twice"},
		{"negative", []Shard{sh(1, [2]int{-1, 10})}, "slot range -1-10 is not within 0-16383"},
		{"too high", []Shard{sh(1, [2]int{0, 10}), sh(2, [2]int{16000, 16384})}, "shard 1 (master h:2): slot range 16000-16384"},
		{"reversed", []Shard{sh(1, [2]int{10, 9})}, "slot range 10-9"},
	}
	for _, c := range cases {
		covered, err := Validate(c.shards)
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
		assert.Zero(t, covered, c.name)
	}
}
