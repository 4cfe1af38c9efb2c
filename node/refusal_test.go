package node

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/actoredis/actoredis/resp"
)

// From a script or a function, an error with a refusal's prefix is the server's refusal only in
// the server's words: Lua can reply with any error it likes, after it ran. From other commands the
// prefix is enough.
func TestRefusedUnrunTellsAScriptsOwnError(t *testing.T) {
	const self = "127.0.0.1:7000"
	for _, c := range []struct {
		err     string
		refused bool
	}{
		{"TRYAGAIN Multiple keys request during rehashing of slot", true},
		{"TRYAGAIN come back later", false},
		{"CLUSTERDOWN The cluster is down", true},
		{"CLUSTERDOWN The cluster is down and only accepts read commands", true},
		{"CLUSTERDOWN Hash slot not served", true},
		{"CLUSTERDOWN maintenance", false},
		{"LOADING Redis is loading the dataset in memory", true},
		{"LOADING Valkey is loading the dataset in memory", true},
		{"LOADING please wait", false},
		{"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", true},
		{"MASTERDOWN no", false},
		{"READONLY You can't write against a read only replica.", true},
		{"READONLY You can't write against a read only replica. script: 82cd, on @user_script:1.", true},
		{"READONLY the account is frozen", false},
		{"MOVED 3999 127.0.0.1:7001", true},
		{"MOVED 3999 " + self, false}, // a server never redirects to itself
		{"ASK 3999 127.0.0.1:7001", true},
		{"ASK 3999 " + self, false},
		{"UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)", false},
	} {
		e := resp.ParseError(c.err)
		for _, name := range []string{"EVAL", "evalsha", "EVAL_RO", "EVALSHA_RO", "FCALL", "fcall_ro"} {
			assert.Equal(t, c.refused, refusedUnrun([]any{name, "x", 0}, e, self, nil, nil), "%s: %s", name, c.err)
		}
		assert.True(t, refusedUnrun([]any{"GET", "k"}, e, self, nil, nil), "GET: %s", c.err)
	}
	assert.True(t, refusedUnrun(nil, resp.ParseError("TRYAGAIN x"), self, nil, nil))
}

// Behind an address map (NAT, a proxy), a script's redirect names this node as the cluster
// announces it, not as the client dials it: mapped, it is still this node, and not followed.
func TestRefusedUnrunMapsTheRedirectsTarget(t *testing.T) {
	const dialled, announced = "127.0.0.1:44265", "10.0.0.5:7000"
	mapAddr := func(a string) string {
		if a == announced {
			return dialled
		}
		return a
	}
	for _, c := range []struct {
		err     string
		refused bool
	}{
		{"MOVED 3999 " + announced, false},
		{"ASK 3999 " + announced, false},
		{"MOVED 3999 10.0.0.6:7000", true},
	} {
		e := resp.ParseError(c.err)
		assert.Equal(t, c.refused, refusedUnrun([]any{"EVAL", "x", 0}, e, dialled, mapAddr, nil), c.err)
	}
	assert.True(t, refusedUnrun([]any{"EVAL", "x", 0}, resp.ParseError("MOVED 3999 "+announced), dialled, nil, nil),
		"without the map, the announced address is another node's")
}

// A server redirects a script or a function only for the slot of its keys, and one without keys
// never: a redirect for another slot is the script's own reply (it ran). A key is hashed as it is
// written (a number's digits); one the encoder refuses leaves the redirect as it looks.
func TestRefusedUnrunComparesTheRedirectsSlotWithTheKeys(t *testing.T) {
	const self = "127.0.0.1:7000"
	keySlot := func(key string) int { return len(key) * 1000 } // "k1": 2000
	for _, c := range []struct {
		args    []any
		err     string
		refused bool
	}{
		{[]any{"EVAL", "s", 1, "k1"}, "MOVED 2000 127.0.0.1:7001", true},
		{[]any{"EVALSHA", "s", "2", []byte("k1"), "k2"}, "ASK 2000 127.0.0.1:7001", true},
		{[]any{"FCALL", "f", int64(1), "k1", "arg"}, "MOVED 2000 127.0.0.1:7001", true},
		{[]any{"EVAL", "s", 1, "k1"}, "MOVED 3000 127.0.0.1:7001", false},
		{[]any{"FCALL_RO", "f", 1, "k1"}, "ASK 1 127.0.0.1:7001", false},
		{[]any{"EVAL", "s", 0}, "MOVED 2000 127.0.0.1:7001", false},
		{[]any{"EVAL", "s", 0, "arg"}, "MOVED 2000 127.0.0.1:7001", false},
		{[]any{"EVAL", "s", 1, "k1"}, "MOVED nonsense", false},
		{[]any{"EVAL", "s", 1, 42}, "MOVED 2000 127.0.0.1:7001", true}, // "42", as written
		{[]any{"EVAL", "s", 1, int64(42)}, "MOVED 3000 127.0.0.1:7001", false},
		{[]any{"EVAL", "s", 1, struct{}{}}, "MOVED 3000 127.0.0.1:7001", true}, // no slot: not written either
		{[]any{"EVAL", "s", "x", "k1"}, "MOVED 3000 127.0.0.1:7001", true},
		{[]any{"GET", "k1"}, "MOVED 3000 127.0.0.1:7001", true},
	} {
		assert.Equal(t, c.refused, refusedUnrun(c.args, resp.ParseError(c.err), self, nil, keySlot), "%v: %s", c.args, c.err)
	}
}
