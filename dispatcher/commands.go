package dispatcher

import (
	"strconv"
	"strings"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// keySpec says where a command's keys are, as COMMAND reports it: the first key's position, the
// last's (negative: from the end; -1 is the last argument), and the step between keys. first == 0
// means the command has no key at a fixed position (keyless, or movable keys handled by movable).
type keySpec struct {
	first, last, step int
	readOnly          bool
	movable           movableKind
	hasSub            bool // a container (OBJECT, XINFO...): the subcommand's spec says where the keys are
}

type movableKind uint8

const (
	fixed          movableKind = iota
	numkeysAt2                 // EVAL script numkeys key...: keys after the count at argument 2
	numkeysAt1                 // ZUNION numkeys key...: keys after the count at argument 1
	destNumkeysAt2             // ZUNIONSTORE dest numkeys key...: dest, then keys after the count
	afterStreams               // XREAD ... STREAMS key... id...: the first half after STREAMS
	migrateKeys                // MIGRATE host port key|"" db timeout [...] [KEYS key...]
)

// Commands is the table of key positions and read-only flags the dispatcher routes by. It starts
// as a built-in table and is completed from the server's COMMAND reply at connect. It is read-only
// once a dispatcher uses it.
type Commands struct {
	specs map[string]keySpec            // by upper-case name, and by lower-case name
	subs  map[string]map[string]keySpec // container name (upper case) → subcommand (upper case)
}

// lookup finds a command's spec by its name as given, trying upper case for mixed case.
func (c *Commands) lookup(name string) (keySpec, bool) {
	if s, ok := c.specs[name]; ok {
		return s, true
	}
	s, ok := c.specs[strings.ToUpper(name)]
	return s, ok
}

// lookupArgs is lookup for a whole command: for a container command it is the spec of the
// subcommand args[1] names, when known.
func (c *Commands) lookupArgs(name string, args []any) (keySpec, bool) {
	s, ok := c.lookup(name)
	if !ok || !s.hasSub || len(args) < 2 {
		return s, ok
	}
	sub, isText := resp.ArgText(args[1])
	if !isText {
		return s, ok
	}
	subs := c.subs[strings.ToUpper(name)]
	if ss, found := subs[sub]; found {
		return ss, true
	}
	if ss, found := subs[strings.ToUpper(sub)]; found {
		return ss, true
	}
	return s, ok
}

func (c *Commands) set(name string, s keySpec) {
	up := strings.ToUpper(name)
	if old, ok := c.specs[up]; ok && old.hasSub {
		s.hasSub = true
	}
	c.specs[up] = s
	c.specs[strings.ToLower(name)] = s
}

// setSub records the spec of the subcommand sub of the container command name.
func (c *Commands) setSub(name, sub string, s keySpec) {
	up := strings.ToUpper(name)
	parent := c.specs[up]
	if !parent.hasSub {
		parent.hasSub = true
		c.set(name, parent)
	}
	if c.subs == nil {
		c.subs = map[string]map[string]keySpec{}
	}
	if c.subs[up] == nil {
		c.subs[up] = map[string]keySpec{}
	}
	c.subs[up][strings.ToUpper(sub)] = s
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
		"GETBIT", "BITCOUNT", "BITPOS", "PFCOUNT", "DUMP", "GEOPOS", "GEODIST", "GEOHASH", "GEOSEARCH",
		"HSCAN", "SSCAN", "ZSCAN", "SUBSTR", "LCS", "EXPIRETIME", "PEXPIRETIME", "HRANDFIELD", "ZRANDMEMBER", "SORT_RO")
	one(false, "SET", "SETNX", "SETEX", "PSETEX", "GETSET", "GETDEL", "GETEX", "APPEND", "INCR", "DECR", "INCRBY",
		"DECRBY", "INCRBYFLOAT", "SETRANGE", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST", "HSET",
		"HSETNX", "HMSET", "HDEL", "HINCRBY", "HINCRBYFLOAT", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "LPOP", "RPOP",
		"LSET", "LREM", "LTRIM", "LINSERT", "SADD", "SREM", "SPOP", "ZADD", "ZREM", "ZINCRBY", "ZPOPMIN", "ZPOPMAX",
		"ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZREMRANGEBYLEX", "XADD", "XDEL", "XTRIM", "XACK", "XCLAIM",
		"XAUTOCLAIM", "XSETID", "SETBIT", "BITFIELD", "PFADD", "GEOADD", "RESTORE", "SORT",
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
	c.set("MIGRATE", keySpec{movable: migrateKeys})
	// Containers whose key follows the subcommand.
	keyAt2 := keySpec{first: 2, last: 2, step: 1}
	keyAt2RO := keySpec{first: 2, last: 2, step: 1, readOnly: true}
	for _, sub := range []string{"ENCODING", "FREQ", "IDLETIME", "REFCOUNT"} {
		c.setSub("OBJECT", sub, keyAt2RO)
	}
	c.setSub("MEMORY", "USAGE", keyAt2RO)
	for _, sub := range []string{"STREAM", "GROUPS", "CONSUMERS"} {
		c.setSub("XINFO", sub, keyAt2RO)
	}
	for _, sub := range []string{"CREATE", "SETID", "DESTROY", "CREATECONSUMER", "DELCONSUMER"} {
		c.setSub("XGROUP", sub, keyAt2)
	}
	// Keyless: known, so that their first argument is not taken for a key.
	for _, n := range []string{"PING", "ECHO", "INFO", "TIME", "LASTSAVE", "DBSIZE", "RANDOMKEY", "KEYS", "SCAN",
		"FLUSHALL", "FLUSHDB", "PUBLISH", "CLUSTER", "CONFIG", "CLIENT", "COMMAND", "SCRIPT", "FUNCTION", "ACL",
		"SLOWLOG", "LATENCY", "READONLY", "READWRITE", "WAIT", "WAITAOF", "SAVE", "BGSAVE", "BGREWRITEAOF"} {
		c.set(n, keySpec{})
	}
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
		c.set(name, specOf(e)) // unknown movable keys (first 0): routed as keyless
		learned++
		if e.Len() > 9 { // Redis 7: the subcommands, each an entry of the same shape ("object|encoding")
			for _, sub := range e.Index(9).Array() {
				parent, subName, found := strings.Cut(sub.Index(0).String(), "|")
				if sub.Len() >= 6 && found {
					c.setSub(parent, subName, specOf(sub))
				}
			}
		}
	}
	return learned
}

// specOf reads the key positions and the read-only flag of a COMMAND entry.
func specOf(e resp.Value) keySpec {
	first, _ := e.Index(3).Int64()
	last, _ := e.Index(4).Int64()
	step, _ := e.Index(5).Int64()
	s := keySpec{first: int(first), last: int(last), step: int(step)}
	for _, f := range e.Index(2).Array() {
		if f.String() == "readonly" {
			s.readOnly = true
		}
	}
	return s
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
		count, ok := resp.ArgInt(args[at])
		if !ok {
			return
		}
		for i := at + 1; i < n && int64(i) <= int64(at)+count; i++ {
			if !yield(args[i]) {
				return
			}
		}
		return
	case afterStreams:
		// As the server finds them: the first half of what follows STREAMS.
		_, at := node.XReadOptions(args)
		if at < 0 {
			return
		}
		rest := n - at - 1
		for j := at + 1; j < at+1+rest/2; j++ {
			if !yield(args[j]) {
				return
			}
		}
		return
	case migrateKeys:
		migrateKeysOf(args, yield)
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

// migrateKeysOf yields MIGRATE's keys as the server finds them: the key at argument 3, or, when it
// is empty, those after the KEYS option (options start at argument 6; AUTH takes one value, AUTH2
// two).
func migrateKeysOf(args []any, yield func(key any) bool) {
	n := len(args)
	if n < 4 {
		return
	}
	if k, ok := resp.ArgText(args[3]); !ok || k != "" {
		yield(args[3])
		return
	}
	for i := 6; i < n; i++ {
		opt, _ := resp.ArgText(args[i])
		switch {
		case strings.EqualFold(opt, "AUTH"):
			i++
		case strings.EqualFold(opt, "AUTH2"):
			i += 2
		case strings.EqualFold(opt, "KEYS"):
			for _, k := range args[i+1:] {
				if !yield(k) {
					return
				}
			}
			return
		}
	}
}

// slotArgument returns the slot a keyless command is about, from its arguments: CLUSTER
// COUNTKEYSINSLOT and GETKEYSINSLOT, which only that slot's master can answer.
func slotArgument(name string, args []any) (slot int, ok bool) {
	if name != "CLUSTER" || len(args) < 3 {
		return 0, false
	}
	if sub, _ := resp.ArgText(args[1]); !resp.EqualFoldAny(sub, "COUNTKEYSINSLOT", "GETKEYSINSLOT") {
		return 0, false
	}
	text, ok := resp.ArgBytes(args[2]) // whatever the argument's type
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(string(text))
	if err != nil || n < 0 || n >= slotmap.NumSlots {
		return 0, false // the server says what is wrong with it
	}
	return n, true
}

// perNode reports whether a keyless command acts on the node it is sent to and nowhere else, so
// that the random master keyless commands go to would give a partial answer without a word: a
// scan, a flush, a script loaded on one shard, a WAIT on a connection that wrote nothing. name is
// upper case.
func perNode(name string, args []any) bool {
	switch name {
	case "FLUSHALL", "FLUSHDB", "SCAN", "KEYS", "DBSIZE", "WAIT", "WAITAOF":
		return true
	case "SCRIPT", "FUNCTION", "CONFIG":
	default:
		return false
	}
	if len(args) < 2 {
		return false
	}
	sub, _ := resp.ArgText(args[1])
	switch name {
	case "SCRIPT":
		return resp.EqualFoldAny(sub, "LOAD", "FLUSH", "EXISTS", "KILL")
	case "FUNCTION":
		return resp.EqualFoldAny(sub, "LOAD", "DELETE", "FLUSH", "RESTORE", "KILL")
	default: // CONFIG
		return resp.EqualFoldAny(sub, "SET", "RESETSTAT", "REWRITE")
	}
}
