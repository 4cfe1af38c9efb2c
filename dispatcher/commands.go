package dispatcher

import (
	"strings"

	"github.com/actoredis/actoredis/resp"
)

// keySpec says where a command's keys are, as COMMAND reports it: the first key's position, the
// last's (negative: from the end; -1 is the last argument), and the step between keys. first == 0
// means the command has no key at a fixed position (keyless, or movable keys handled by movable).
type keySpec struct {
	first, last, step int
	readOnly          bool
	movable           movableKind
}

type movableKind uint8

const (
	fixed          movableKind = iota
	numkeysAt2                 // EVAL script numkeys key...: keys after the count at argument 2
	numkeysAt1                 // ZUNION numkeys key...: keys after the count at argument 1
	destNumkeysAt2             // ZUNIONSTORE dest numkeys key...: dest, then keys after the count
	afterStreams               // XREAD ... STREAMS key... id...: the first half after STREAMS
)

// Commands is the table of key positions and read-only flags the dispatcher routes by. It starts
// as a built-in table and is completed from the server's COMMAND reply at connect. It is read-only
// once a dispatcher uses it.
type Commands struct {
	specs map[string]keySpec // by upper-case name, and by lower-case name
}

// lookup finds a command's spec by its name as given, trying upper case for mixed case.
func (c *Commands) lookup(name string) (keySpec, bool) {
	if s, ok := c.specs[name]; ok {
		return s, true
	}
	s, ok := c.specs[strings.ToUpper(name)]
	return s, ok
}

func (c *Commands) set(name string, s keySpec) {
	up := strings.ToUpper(name)
	c.specs[up] = s
	c.specs[strings.ToLower(name)] = s
}

// BuiltinCommands returns the table compiled into the client: the everyday commands, enough to
// route correctly when COMMAND cannot be read.
func BuiltinCommands() *Commands {
	c := &Commands{specs: map[string]keySpec{}}
	one := func(ro bool, names ...string) {
		for _, n := range names {
			c.set(n, keySpec{first: 1, last: 1, step: 1, readOnly: ro})
		}
	}
	one(true, "GET", "STRLEN", "GETRANGE", "EXISTS", "TYPE", "TTL", "PTTL", "HGET", "HGETALL", "HMGET", "HLEN",
		"HKEYS", "HVALS", "HEXISTS", "HSTRLEN", "LRANGE", "LLEN", "LINDEX", "LPOS", "SMEMBERS", "SISMEMBER",
		"SMISMEMBER", "SCARD", "SRANDMEMBER", "ZRANGE", "ZSCORE", "ZMSCORE", "ZCARD", "ZCOUNT", "ZRANK", "ZREVRANK",
		"ZRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZLEXCOUNT", "XRANGE", "XREVRANGE", "XLEN",
		"GETBIT", "BITCOUNT", "BITPOS", "PFCOUNT", "DUMP", "OBJECT", "GEOPOS", "GEODIST", "GEOHASH", "GEOSEARCH",
		"HSCAN", "SSCAN", "ZSCAN", "SUBSTR", "LCS", "EXPIRETIME", "PEXPIRETIME", "HRANDFIELD", "ZRANDMEMBER", "SORT_RO")
	one(false, "SET", "SETNX", "SETEX", "PSETEX", "GETSET", "GETDEL", "GETEX", "APPEND", "INCR", "DECR", "INCRBY",
		"DECRBY", "INCRBYFLOAT", "SETRANGE", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST", "HSET",
		"HSETNX", "HMSET", "HDEL", "HINCRBY", "HINCRBYFLOAT", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "LPOP", "RPOP",
		"LSET", "LREM", "LTRIM", "LINSERT", "SADD", "SREM", "SPOP", "ZADD", "ZREM", "ZINCRBY", "ZPOPMIN", "ZPOPMAX",
		"ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZREMRANGEBYLEX", "XADD", "XDEL", "XTRIM", "XACK", "XCLAIM",
		"XAUTOCLAIM", "XGROUP", "XSETID", "SETBIT", "BITFIELD", "PFADD", "GEOADD", "RESTORE", "SORT",
		"BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX", "WATCH", "UNLINK", "DEL", "TOUCH")
	// Multi-key commands with every argument a key, or key/value pairs.
	c.set("DEL", keySpec{first: 1, last: -1, step: 1})
	c.set("UNLINK", keySpec{first: 1, last: -1, step: 1})
	c.set("TOUCH", keySpec{first: 1, last: -1, step: 1, readOnly: true})
	c.set("EXISTS", keySpec{first: 1, last: -1, step: 1, readOnly: true})
	c.set("MGET", keySpec{first: 1, last: -1, step: 1, readOnly: true})
	c.set("MSET", keySpec{first: 1, last: -1, step: 2})
	c.set("MSETNX", keySpec{first: 1, last: -1, step: 2})
	c.set("WATCH", keySpec{first: 1, last: -1, step: 1})
	c.set("SINTER", keySpec{first: 1, last: -1, step: 1, readOnly: true})
	c.set("SUNION", keySpec{first: 1, last: -1, step: 1, readOnly: true})
	c.set("SDIFF", keySpec{first: 1, last: -1, step: 1, readOnly: true})
	c.set("SINTERSTORE", keySpec{first: 1, last: -1, step: 1})
	c.set("SUNIONSTORE", keySpec{first: 1, last: -1, step: 1})
	c.set("SDIFFSTORE", keySpec{first: 1, last: -1, step: 1})
	c.set("PFMERGE", keySpec{first: 1, last: -1, step: 1})
	c.set("PFCOUNT", keySpec{first: 1, last: -1, step: 1, readOnly: true})
	c.set("RENAME", keySpec{first: 1, last: 2, step: 1})
	c.set("RENAMENX", keySpec{first: 1, last: 2, step: 1})
	c.set("COPY", keySpec{first: 1, last: 2, step: 1})
	c.set("SMOVE", keySpec{first: 1, last: 2, step: 1})
	c.set("LMOVE", keySpec{first: 1, last: 2, step: 1})
	c.set("RPOPLPUSH", keySpec{first: 1, last: 2, step: 1})
	c.set("BLMOVE", keySpec{first: 1, last: 2, step: 1})
	c.set("BRPOPLPUSH", keySpec{first: 1, last: 2, step: 1})
	c.set("BLPOP", keySpec{first: 1, last: -2, step: 1})
	c.set("BRPOP", keySpec{first: 1, last: -2, step: 1})
	c.set("BZPOPMIN", keySpec{first: 1, last: -2, step: 1})
	c.set("BZPOPMAX", keySpec{first: 1, last: -2, step: 1})
	c.set("BITOP", keySpec{first: 2, last: -1, step: 1})
	c.set("SPUBLISH", keySpec{first: 1, last: 1, step: 1})
	for _, n := range []string{"EVAL", "EVALSHA", "FCALL"} {
		c.set(n, keySpec{movable: numkeysAt2})
	}
	for _, n := range []string{"EVAL_RO", "EVALSHA_RO", "FCALL_RO"} {
		c.set(n, keySpec{movable: numkeysAt2, readOnly: true})
	}
	for _, n := range []string{"ZUNION", "ZINTER", "ZDIFF", "SINTERCARD", "ZINTERCARD", "LMPOP", "ZMPOP"} {
		c.set(n, keySpec{movable: numkeysAt1, readOnly: n == "ZUNION" || n == "ZINTER" || n == "ZDIFF" || n == "SINTERCARD" || n == "ZINTERCARD"})
	}
	for _, n := range []string{"ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"} {
		c.set(n, keySpec{movable: destNumkeysAt2})
	}
	c.set("BLMPOP", keySpec{movable: numkeysAt2})
	c.set("BZMPOP", keySpec{movable: numkeysAt2})
	c.set("XREAD", keySpec{movable: afterStreams, readOnly: true})
	c.set("XREADGROUP", keySpec{movable: afterStreams})
	return c
}

// LearnFromCOMMAND completes the table from the server's COMMAND reply: each entry is
// [name, arity, flags, first key, last key, step, ...]. Commands with movable keys keep their
// built-in handling; commands the table did not know are added.
func (c *Commands) LearnFromCOMMAND(v resp.Value) int {
	learned := 0
	for _, e := range v.Array() {
		if e.Len() < 6 {
			continue
		}
		name := e.Index(0).String()
		if old, ok := c.lookup(name); ok && old.movable != fixed {
			continue
		}
		first, _ := e.Index(3).Int64()
		last, _ := e.Index(4).Int64()
		step, _ := e.Index(5).Int64()
		s := keySpec{first: int(first), last: int(last), step: int(step)}
		for _, f := range e.Index(2).Array() {
			switch f.String() {
			case "readonly":
				s.readOnly = true
			case "movablekeys":
				if s.first == 0 {
					s.movable = fixed // unknown movable keys: routed as keyless
				}
			}
		}
		c.set(name, s)
		learned++
	}
	return learned
}

// keys calls yield with each key of the command args (args[0] is the name), in order, until it
// returns false. It allocates nothing.
func (s keySpec) keys(args []any, yield func(key any) bool) {
	n := len(args)
	switch s.movable {
	case numkeysAt2, numkeysAt1, destNumkeysAt2:
		at := 2
		if s.movable == numkeysAt1 {
			at = 1
		}
		if s.movable == destNumkeysAt2 {
			if n < 2 || !yield(args[1]) {
				return
			}
		}
		if at >= n {
			return
		}
		count, ok := argInt(args[at])
		if !ok {
			return
		}
		for i := at + 1; i < n && i <= at+count; i++ {
			if !yield(args[i]) {
				return
			}
		}
		return
	case afterStreams:
		for i := 1; i < n; i++ {
			if str, ok := resp.ArgString(args[i]); ok && strings.EqualFold(str, "STREAMS") {
				rest := n - i - 1
				for j := i + 1; j < i+1+rest/2; j++ {
					if !yield(args[j]) {
						return
					}
				}
				return
			}
		}
		return
	}
	if s.first <= 0 || s.first >= n {
		return
	}
	last := s.last
	if last < 0 {
		last = n + last
	}
	step := max(s.step, 1)
	for i := s.first; i <= last && i < n; i += step {
		if !yield(args[i]) {
			return
		}
	}
}

func argInt(a any) (int, bool) {
	switch v := a.(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case *int64:
		return int(*v), true
	case *string:
		return argInt(*v)
	case string:
		n := 0
		if v == "" {
			return 0, false
		}
		for _, ch := range v {
			if ch < '0' || ch > '9' {
				return 0, false
			}
			n = n*10 + int(ch-'0')
		}
		return n, true
	}
	return 0, false
}
