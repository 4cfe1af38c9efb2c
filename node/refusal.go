package node

import (
	"strings"

	"github.com/actoredis/actoredis/resp"
)

// scriptCommands run code of the caller's that may reply with any error it likes, after it ran.
var scriptCommands = []string{"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}

// Refused reports whether e, the reply of the node at addr to the command args, is the server
// refusing the command without running it: a redirect or a transient state (Returnable), in the
// server's own words from a script or a function (see refusedUnrun). mapAddr (nil: none) maps a
// redirect's announced target to the address dialled, as the client's address map does, to
// compare it with addr.
func Refused(args []any, e *resp.Error, addr string, mapAddr func(string) string) bool {
	return Returnable(e) && refusedUnrun(args, e, addr, mapAddr)
}

// refusedUnrun reports whether e, which Returnable accepts, is the server refusing the command
// args without running it, as the error's prefix says, rather than a script's or a function's own
// error reply with that prefix: Lua's redis.error_reply("TRYAGAIN later") ran the script, and
// taken for the server's refusal it would run again, up to the command's deadline. From EVAL,
// EVALSHA, FCALL and their _RO forms, then, only an error in the server's own words counts, and a
// redirect naming addr, the node that answered (which no server sends), does not. An error of
// the script's in the server's exact words is taken for the server's: that is the limit of what
// the reply tells.
func refusedUnrun(args []any, e *resp.Error, addr string, mapAddr func(string) string) bool {
	if len(args) == 0 {
		return true
	}
	name, ok := resp.ArgText(args[0])
	if !ok || !containsFold(scriptCommands, name) {
		return true
	}
	switch e.Prefix {
	case "MOVED", "ASK":
		_, target, _ := strings.Cut(e.Msg, " ")
		return target != addr && (mapAddr == nil || mapAddr(target) != addr)
	case "TRYAGAIN":
		return strings.HasPrefix(e.Msg, "Multiple keys request during rehashing")
	case "CLUSTERDOWN":
		return strings.HasPrefix(e.Msg, "The cluster is down") || strings.HasPrefix(e.Msg, "Hash slot not served")
	case "LOADING":
		return strings.Contains(e.Msg, " is loading the dataset in memory") // "Redis is", "Valkey is"
	case "MASTERDOWN":
		return strings.HasPrefix(e.Msg, "Link with MASTER is down")
	case "READONLY":
		// A write of the script's refused by a replica: the server's words, then where in the script.
		return strings.HasPrefix(e.Msg, "You can't write against a read only")
	}
	return false // UNBLOCKED: a script never blocks
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
