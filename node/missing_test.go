package node

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/actoredis/actoredis/resp"
)

// The replies a replica read offers back to be checked with the master (MissingReturns), and
// those that stand.
func TestSaysMissing(t *testing.T) {
	v, nul := resp.BulkString("v"), resp.Null()
	for _, c := range []struct {
		args []any
		v    resp.Value
		want bool
	}{
		{[]any{"GET", "k"}, nul, true},
		{[]any{"GET", "k"}, v, false},
		{[]any{"GET", "k"}, resp.BulkString(""), false},
		{[]any{"MGET", "a", "b"}, resp.Array(v, nul), true},
		{[]any{"MGET", "a", "b"}, resp.Array(v, v), false},
		{[]any{"SMEMBERS", "s"}, resp.Set(), true},
		{[]any{"smembers", "s"}, resp.Array(), true}, // RESP2
		{[]any{"SMEMBERS", "s"}, resp.Set(v), false},
		{[]any{"HGETALL", "h"}, resp.Map(), true},
		{[]any{"HKEYS", "h"}, resp.Array(), true},
		{[]any{"HGETALL", "h"}, resp.Map(v, v), false},
		// Also the answers of keys that exist: the replica's stand.
		{[]any{"LRANGE", "l", 5, 10}, resp.Array(), false},
		{[]any{"ZRANGEBYSCORE", "z", 100, 200}, resp.Array(), false},
		{[]any{"HMGET", "h", "f", "g"}, resp.Array(v, nul), false},
		{[]any{"ZMSCORE", "z", "m", "n"}, resp.Array(v, nul), false},
		{[]any{"EVAL_RO", "return {}", 1, "k"}, resp.Array(), false},
		{[]any{"XREAD", "STREAMS", "s", "0"}, nul, true},
		{[]any{"EXISTS", "a", "b"}, resp.Integer(1), true},
		{[]any{"exists", "a", "a"}, resp.Integer(1), true},
		{[]any{"EXISTS", "a", "b"}, resp.Integer(2), false},
		{[]any{[]byte("EXISTS"), "a"}, resp.Integer(0), true},
		{[]any{"TOUCH", "a", "b"}, resp.Integer(1), true},
		{[]any{"TOUCH", "a"}, resp.Integer(1), false},
		// Only a missing key gives these: Redis keeps no empty collection.
		{[]any{"SCARD", "a"}, resp.Integer(0), true},
		{[]any{"llen", "a"}, resp.Integer(0), true},
		{[]any{"HLEN", "a"}, resp.Integer(0), true},
		{[]any{"ZCARD", "a"}, resp.Integer(0), true},
		{[]any{"SCARD", "a"}, resp.Integer(3), false},
		{[]any{"TTL", "a"}, resp.Integer(-2), true},
		{[]any{"PTTL", "a"}, resp.Integer(-2), true},
		{[]any{"EXPIRETIME", "a"}, resp.Integer(-2), true},
		{[]any{"PEXPIRETIME", "a"}, resp.Integer(-2), true},
		{[]any{"TTL", "a"}, resp.Integer(-1), false},
		{[]any{"TTL", "a"}, resp.Integer(100), false},
		{[]any{"TYPE", "a"}, resp.SimpleString("none"), true},
		{[]any{"TYPE", "a"}, resp.SimpleString("string"), false},
		// A key that exists may give these too.
		{[]any{"STRLEN", "a"}, resp.Integer(0), false},
		{[]any{"SISMEMBER", "a", "m"}, resp.Integer(0), false},
		{[]any{"XLEN", "a"}, resp.Integer(0), false},
		{[]any{"ZCOUNT", "a", 0, 1}, resp.Integer(0), false},
		{[]any{"GET", "a"}, resp.BulkString("none"), false},
	} {
		assert.Equal(t, c.want, saysMissing(c.args, c.v), "%v → %v", c.args, c.v)
	}
}
