// Package api is the package users import: a Redis Cluster client built on actors.
//
// Create a client from a few root nodes, connect, then use the whole cluster like one server:
//
//	c, err := api.CreateCluster(api.ClusterOptions{
//		RootNodes: []api.NodeOptions{{URL: "redis://127.0.0.1:30001"}, {URL: "redis://127.0.0.1:30002"}},
//	})
//	if err != nil { ... }                 // a *ConfigError naming the field
//	if err := c.Connect(ctx); err != nil { ... } // ErrRootNodesUnavailable: discovery failed on every root
//	defer c.Close()
//
//	err = c.Set(ctx, "key", "value")
//	s, err := c.Get(ctx, "key")            // api.Nil when the key is missing
//	f := c.Send(api.Cmd("INCR", "counter")) // a Future: send many, await later
//	v, err := f.Await()                    // resp.Value, error
//
// Commands are routed by their keys' hash slot (CRC16 with {hash tags}; see GetSlot) to the node
// that serves it; MOVED and ASK replies are followed (up to MaxCommandRedirections), TRYAGAIN,
// CLUSTERDOWN and LOADING retried with backoff within CommandTimeout (a slot's retries in the
// order they were sent, the slot's later commands behind them but for TRYAGAIN's), and the
// topology refreshed on
// MOVED, periodically and while a node is unreachable. Commands sent together to one node are
// written together (auto-pipelining).
//
// Tx runs commands as one MULTI ... EXEC transaction on the master of their slot; Watch runs a
// check-and-set (WATCH, reads, MULTI ... EXEC) on a connection of its own. Lua scripts run by
// digest: make a Script once with NewScript and Run it; the source is sent only to a node that
// answers NOSCRIPT (SCRIPT LOAD), and the script runs by its digest again. Function libraries
// (Redis 7): make a Library once with NewLibrary, Load it on every master, and Call its
// functions; a master that lacks it is loaded by the call that meets it. An error a script or a
// function replies with (redis.error_reply in Lua) is its reply, whatever its prefix: from EVAL,
// EVALSHA, FCALL and their _RO forms only an error in the server's own words (TRYAGAIN Multiple
// keys request during rehashing of slot, say) is followed or retried, for the script may have run.
// A redirect is the server's only for the slot of the script's keys (one without keys is never
// redirected) and to another node; one of the script's own that says as much cannot be told from
// the server's, and is followed, but not round: a script or function that meets a redirect it has
// already followed fails with ErrMaxRedirections, which WasWritten says may have run (it ran at
// most twice, three times in a Run that first loads it on that node).
//
// MGet, MSet, Del, Unlink and Exists take keys in any slots, sent as one command per slot; Do
// refuses a command whose keys are in several slots (ErrCrossSlot), as a server would. Scan
// iterates over the keys of every master (for key, err := range c.Scan(ctx, opts)), following
// failovers and slots that move while it runs.
//
// Subscribe, PSubscribe and SSubscribe return a Subscription, on connections of its own, that
// follows failovers and moving slots; Add and Remove change its names while it runs.
//
// Errors: server errors are *resp.Error values matched by prefix (errors.Is(err, api.ErrWrongType));
// client errors are the sentinels of this package. Compare with errors.Is, never ==.
//
// A Cluster, a Future, a Node, a Script, a Library and a Subscription are safe for concurrent use.
package api
