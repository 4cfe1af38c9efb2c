package dispatcher

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

func keysOf(c *Commands, args ...any) []any {
	name, _ := resp.ArgText(args[0])
	spec, _ := c.lookupArgs(name, args)
	var out []any
	spec.keys(args, func(k any) bool { out = append(out, k); return true })
	return out
}

func TestKeyPositions(t *testing.T) {
	c := BuiltinCommands()
	cases := []struct {
		args []any
		keys []any
	}{
		{[]any{"GET", "a"}, []any{"a"}},
		{[]any{"get", "a"}, []any{"a"}},
		{[]any{"Get", "a"}, []any{"a"}},
		{[]any{"SET", "a", "v", "EX", 10}, []any{"a"}},
		{[]any{"MSET", "a", "1", "b", "2"}, []any{"a", "b"}},
		{[]any{"MGET", "a", "b", "c"}, []any{"a", "b", "c"}},
		{[]any{"BLPOP", "a", "b", 0}, []any{"a", "b"}},
		{[]any{"EVAL", "return 1", 2, "k1", "k2", "arg"}, []any{"k1", "k2"}},
		{[]any{"EVALSHA", "abc", "0", "arg"}, nil},
		{[]any{"ZUNIONSTORE", "dst", 2, "z1", "z2", "WEIGHTS", 1, 2}, []any{"dst", "z1", "z2"}},
		{[]any{"ZUNION", 2, "z1", "z2"}, []any{"z1", "z2"}},
		{[]any{"XREAD", "COUNT", 1, "STREAMS", "s1", "s2", "0", "0"}, []any{"s1", "s2"}},
		{[]any{"BITOP", "AND", "dst", "a", "b"}, []any{"dst", "a", "b"}},
		{[]any{"PING"}, nil},
		// Containers: the key follows the subcommand; keyless ones keep their first argument.
		{[]any{"OBJECT", "encoding", "k"}, []any{"k"}},
		{[]any{"MEMORY", "USAGE", "k"}, []any{"k"}},
		{[]any{"XINFO", "STREAM", "s"}, []any{"s"}},
		{[]any{"XGROUP", "CREATE", "s", "g", "$"}, []any{"s"}},
		{[]any{"CLUSTER", "INFO"}, nil},
		{[]any{"SCAN", "0"}, nil},
		// Counts and keywords as bytes, the form the api gives them.
		{[]any{"EVAL", "return 1", []byte("1"), "k1", "arg"}, []any{"k1"}},
		{[]any{"EVAL", "return 1", ptr([]byte("1")), "k1", "arg"}, []any{"k1"}},
		{[]any{"XREAD", []byte("STREAMS"), "s1", "0"}, []any{"s1"}},
		// XREADGROUP: a group or consumer named "streams" is not the STREAMS keyword.
		{[]any{"XREADGROUP", "GROUP", "g", "streams", "STREAMS", "s", ">"}, []any{"s"}},
		{[]any{"XREADGROUP", "GROUP", "streams", "c", "COUNT", "5", "NOACK", "STREAMS", "s1", "s2", ">", ">"}, []any{"s1", "s2"}},
		{[]any{"XREADGROUP", "GROUP", "g", "c", "CLAIM", "100", "STREAMS", "s", ">"}, []any{"s"}}, // an option newer than the table
		// MIGRATE: its key, or with an empty key those after KEYS (a password named "keys" is not it).
		{[]any{"MIGRATE", "h", 7000, "k", 0, 1000, "COPY"}, []any{"k"}},
		{[]any{"MIGRATE", "h", 7000, "", 0, 1000, "REPLACE", "KEYS", "{t}a", "{t}b"}, []any{"{t}a", "{t}b"}},
		{[]any{"MIGRATE", "h", 7000, []byte(""), 0, 1000, "AUTH", "keys", "KEYS", "x"}, []any{"x"}},
		{[]any{"MIGRATE", "h", 7000, "", 0, 1000, "AUTH2", "u", "keys", "keys", "x"}, []any{"x"}},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.keys, keysOf(c, tc.args...), "%v", tc.args)
	}
	spec, _ := c.lookup("GET")
	assert.True(t, spec.readOnly)
	spec, _ = c.lookup("SET")
	assert.False(t, spec.readOnly)
}

func TestSlotOfChecksCrossSlot(t *testing.T) {
	c := BuiltinCommands()
	spec, known := c.lookup("MGET")
	slot, keys, cross := countKeys(spec, known, []any{"MGET", "{u}a", "{u}b"})
	assert.Equal(t, 2, keys)
	assert.False(t, cross)
	assert.Equal(t, slotmap.Slot("u"), slot)
	_, _, cross = countKeys(spec, known, []any{"MGET", "a", "b"})
	assert.True(t, cross)
	_, keys, _ = countKeys(keySpec{}, false, []any{"PING"})
	assert.Zero(t, keys)
	// An unknown command is routed by its first argument.
	slot, keys, _ = countKeys(keySpec{}, false, []any{"MYMODULE.GET", "k"})
	assert.Equal(t, 1, keys)
	assert.Equal(t, slotmap.Slot("k"), slot)
	// Non-string keys hash their wire form.
	assert.Equal(t, slotmap.Slot("42"), keySlot(42))
	assert.Equal(t, slotmap.Slot("k"), keySlot([]byte("k")))
}

func ptr[T any](v T) *T { return &v }

// A command that acts on one node only is refused when sent through the cluster; its other
// subcommands, and the commands that are fine anywhere, are not.
func TestPerNodeCommands(t *testing.T) {
	for _, args := range [][]any{{"FLUSHALL"}, {"SCAN", "0"}, {"KEYS", "*"}, {"DBSIZE"}, {"SCRIPT", "load", "return 1"},
		{"FUNCTION", "LOAD", "x"}, {"CONFIG", "SET", "a", "b"}, {"WAIT", 1, 100}} {
		assert.True(t, perNode(args[0].(string), args), "%v", args)
	}
	for _, args := range [][]any{{"PING"}, {"INFO"}, {"SCRIPT", "SHOW", "x"}, {"CONFIG", "GET", "a"}, {"PUBLISH", "c", "m"}, {"CLUSTER", "INFO"}} {
		assert.False(t, perNode(args[0].(string), args), "%v", args)
	}
}

func TestLearnFromCOMMAND(t *testing.T) {
	c := BuiltinCommands()
	reply := resp.Array(
		resp.Array(resp.BulkString("newcmd"), resp.Integer(-2), resp.Set(resp.SimpleString("readonly")),
			resp.Integer(2), resp.Integer(-1), resp.Integer(2)),
		resp.Array(resp.BulkString("eval"), resp.Integer(-3), resp.Set(resp.SimpleString("movablekeys")),
			resp.Integer(0), resp.Integer(0), resp.Integer(0)),
	)
	assert.Equal(t, 1, c.LearnFromCOMMAND(reply), "movable-key commands keep their built-in rule")
	assert.Equal(t, []any{"a", "c"}, keysOf(c, "NEWCMD", "x", "a", "b", "c"))
	spec, _ := c.lookup("newcmd")
	assert.True(t, spec.readOnly)
	assert.Equal(t, []any{"k"}, keysOf(c, "EVAL", "s", 1, "k"))

	// Redis 7 lists a container's subcommands, with their key positions, in element 10.
	entry := func(name string, first int, flags ...string) resp.Value {
		fs := make([]resp.Value, len(flags))
		for i, f := range flags {
			fs[i] = resp.SimpleString(f)
		}
		return resp.Array(resp.BulkString(name), resp.Integer(-2), resp.Set(fs...),
			resp.Integer(int64(first)), resp.Integer(int64(first)), resp.Integer(1))
	}
	container := entry("newcontainer", 0)
	container = resp.Array(append(container.Array(), resp.Array(), resp.Array(), resp.Array(),
		resp.Array(entry("newcontainer|of", 2, "readonly"), entry("newcontainer|help", 0)))...)
	c.LearnFromCOMMAND(resp.Array(container))
	assert.Equal(t, []any{"k"}, keysOf(c, "NEWCONTAINER", "OF", "k"))
	assert.Equal(t, []any{"k"}, keysOf(c, "newcontainer", "of", "k"))
	assert.Nil(t, keysOf(c, "NEWCONTAINER", "HELP"))
	spec, _ = c.lookupArgs("NEWCONTAINER", []any{"NEWCONTAINER", "of", "k"})
	assert.True(t, spec.readOnly)
}

func TestBackoff(t *testing.T) {
	none := func(time.Duration) time.Duration { return 0 }
	assert.Equal(t, 10*time.Millisecond, backoff(1, none)) // 20 ms / 2
	assert.Equal(t, 500*time.Millisecond, backoff(10, none))
	full := func(d time.Duration) time.Duration { return d }
	assert.Equal(t, 1500*time.Millisecond, backoff(10, full), "at most 1 s ± 50%")
}
