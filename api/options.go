package api

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// NodeOptions describe how to reach a node. In ClusterOptions.RootNodes each names a root node by
// URL; ClusterOptions.Defaults applies to every node discovered.
type NodeOptions struct {
	// URL is "redis://[user:password@]host:port" or "rediss://..." (TLS). Only in RootNodes. A lone
	// "secret@" is the default user's password, as redis-cli reads it; "user:@" is a user with no
	// password. A path other than "/" or "/0", a query or a fragment is refused (a cluster has
	// database 0 only).
	URL string
	// Username and Password authenticate (ACL user, or the default user when Username is ""). A
	// Username alone authenticates a user that has no password (ACL nopass). In a root, each one
	// set overrides the URL's. Every node is reached with one set of credentials: roots that
	// disagree with each other or with Defaults are a ConfigError.
	Username, Password string
	// TLS enables TLS with this configuration (a rediss:// URL enables it with defaults). Every
	// node is reached with one configuration, so set it once, in Defaults.TLS, which then applies
	// to every root too. Without Defaults.TLS, roots that mix TLS and plain connections are a
	// ConfigError; so are roots, or a root and Defaults, that give different *tls.Config values
	// (compared by pointer: equal contents in two values are still different).
	TLS *tls.Config
}

// String describes the options without the password.
func (o NodeOptions) String() string {
	pw := ""
	if o.Password != "" {
		pw = " password=***"
	}
	return fmt.Sprintf("NodeOptions{URL: %s, Username: %q%s, TLS: %t}", redactURL(o.URL), o.Username, pw, o.TLS != nil)
}

// GoString is String, for %#v: the password stays out of it too.
func (o NodeOptions) GoString() string { return o.String() }

// LogValue is String, for log/slog: a handler that would print the struct's fields (JSON) gets
// it without the password.
func (o NodeOptions) LogValue() slog.Value { return slog.StringValue(o.String()) }

// ClusterOptions configure a Cluster. The zero value of each field is its documented default;
// CreateCluster validates them once. It keeps a copy of the options, with its own copies of the
// RootNodes slice and of NodeAddressMap, so the caller may change those afterwards. It uses the
// *tls.Config values, NodeAddressMapFunc, Dialer, Reconnect, Logger and Hooks as given, for the Cluster's
// whole life: do not modify a tls.Config after passing it.
type ClusterOptions struct {
	// RootNodes are the nodes the client discovers the cluster from; at least one.
	RootNodes []NodeOptions
	// Defaults apply to every node: credentials and TLS. When Defaults has no credentials, those
	// given with a root (in its URL or its fields) are used for every node; roots that give
	// credentials must give the same ones. Defaults has no URL.
	Defaults NodeOptions
	// UseReplicas sends read-only commands round-robin over a slot's master and replicas (which the
	// client puts in READONLY mode; its connections to masters are READWRITE, so that a master
	// demoted by a failover the client has not seen answers its reads with MOVED rather than
	// serving them as a replica). Default false: everything goes to masters. A replica's reads may
	// lag its master's writes. A replica's reply that may say a key is missing is checked with the
	// master, which answers for it: a key written and not yet replicated, or moved by a slot
	// migration (Redis does not tell replicas of one: a replica answers Nil where its master
	// answers ASK). Such a reply is a Nil, a Nil inside MGET's reply, an empty HGETALL, HKEYS,
	// HVALS or SMEMBERS, 0 from SCARD, LLEN, HLEN or ZCARD, -2 from TTL, PTTL, EXPIRETIME or
	// PEXPIRETIME, "none" from TYPE, or EXISTS or TOUCH counting fewer keys than it was given.
	// Replies that a key that exists may give too (an empty LRANGE or ZRANGEBYSCORE, a Nil inside
	// HMGET's reply, 0 from STRLEN, SISMEMBER, HEXISTS or XLEN...) are the replica's answer, even
	// during a slot migration: checking each would cost the master a read as well. While the master
	// is unreachable (a failover), the replica's answer stands. A slot an ASK has shown migrating
	// is read from its master until a MOVED or a new map shows it moved (at most 10 minutes after
	// its last ASK). A replica that answers LOADING or MASTERDOWN gets no reads for a second; the
	// read goes to the master at once. One the cluster lists as loading or failed (restarted,
	// resyncing) is left out of the map until it is online, which the map looks for every 200 ms,
	// backing off to 5 s. A master the client cannot reach (a failover, until the new
	// map) gets no reads while a replica of it is reachable, for as long as the cluster lets
	// replicas serve them.
	UseReplicas bool
	// MaxBlockingConns is how many connections of their own each node may have for blocking
	// commands (BLPOP, BLMOVE, BZPOPMIN, XREAD BLOCK...): each is held while its
	// command blocks, and kept for reuse after. A blocking command that finds them all in use waits
	// for one up to CommandTimeout, then fails with ErrBlockingPoolFull. Watch takes its
	// connection from the same pool and holds it while its function runs. Default 8.
	MaxBlockingConns int
	// MaxCommandRedirections is how many MOVED/ASK hops in a row a command may take before it
	// fails with ErrMaxRedirections (any other reply, a TRYAGAIN say, starts the count again).
	// A script or function stops sooner, at the first redirect it has already followed (see the
	// package doc). Default 16; it cannot be 0 (0 means the default).
	MaxCommandRedirections int
	// NodeAddressMap maps the address a node announces ("host:port") to the address to dial, for
	// clusters behind NAT or announcing names this host cannot resolve. Applied to the topology and
	// to MOVED and ASK targets. NodeAddressMapFunc, when set, is asked first. A node announced
	// with no host (cluster-preferred-endpoint-type unknown-endpoint: "the host you reached me
	// by") is first given the host the client dialled for the reply that named it, then mapped; one
	// announced as "?" (no hostname) is looked up as "?:port".
	NodeAddressMap map[string]string
	// NodeAddressMapFunc maps an announced address as NodeAddressMap does, and is asked first:
	// when it returns "", NodeAddressMap is looked up, and with no entry there either the
	// announced address is dialled. It is called from several of the client's goroutines,
	// possibly at once (topology updates, MOVED and ASK targets), so it must be safe for
	// concurrent use, and it should not block: routing waits for it (and a connection's reader,
	// for a script's MOVED or ASK, told from a redirect to its own node). A panic in it is logged
	// (Logger) and the announced address is used for that lookup, without NodeAddressMap.
	NodeAddressMapFunc func(announced string) string
	// RESP is the protocol: 3 (default) or 2.
	RESP int
	// ClientName is set on every connection (CLIENT SETNAME): printable ASCII, no spaces. Default
	// none.
	ClientName string
	// CommandTimeout bounds each command, redirects and retries included: a command still waiting
	// for its reply past it fails with ErrTimeout (on a connection whose oldest reply due is that
	// late, every command still waiting fails, and the connection is replaced). A blocking
	// command's wait on its server, as long as it asked for, is not counted. A command the server
	// takes longer to run (a slow script) may be given more with Command.Timeout. Default 5 s.
	CommandTimeout time.Duration
	// ConnectTimeout bounds dialing one node, handshake included, and each topology query to one
	// node. In Connect it bounds each discovery query to a root, the wait for a master's
	// connection, and the COMMAND query; roots are tried in turn, so Connect can take about
	// (roots + 2) × ConnectTimeout: bound Connect with its ctx to wait less. Default 5 s.
	ConnectTimeout time.Duration
	// Dialer, when set, opens every connection to a node, topology queries included, in place of
	// the client's TCP dial: for a proxy, a tunnel, socket options of your own, or a test. It is
	// given the network ("tcp"), the node's address (after NodeAddressMap) and a ctx bounded by
	// ConnectTimeout and ended by Close; it must return once ctx ends (Close waits for it). TLS,
	// when configured, wraps the connection it returns, and the handshake (HELLO, AUTH...) follows.
	// It is called from several goroutines, possibly at once, so it must be safe for concurrent use.
	// Its error fails the dial (wrapped: errors.Is finds it), named with the node, as a refused
	// connection would be; a panic in it fails the dial too.
	// The connection's keep-alive is the Dialer's to set: the client's own dial probes a connection
	// idle for 5 s every 5 s and gives it up after 3 probes unanswered (Go's defaults take about
	// 150 s), which a blocking command's connection relies on to find a dead host. On a
	// *net.TCPConn or *net.UnixConn it returns, a write the server is slow to take is finished at
	// later ticks; on another kind of connection, as over TLS, it waits up to CommandTimeout, then
	// fails the connection. A connection that is no syscall.Conn (a wrapper of the Dialer's) cannot
	// be peeked at: a caller alone in the client does not read its replies on its own goroutine
	// there (see Send), and an idle blocking connection answers a PING before it is reused.
	// Default: a TCP dial with those keep-alive probes.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Reconnect returns the delay before reconnect attempt n of a node's connection. n starts at 1
	// after the first failed dial or a lost connection, and starts again at 1 when a connection
	// that stayed up for a second or more is lost (one lost sooner goes on from where the
	// attempts before it left off).
	// It is called on each node's own goroutine, for every node, possibly at once, so it must be
	// safe for concurrent use; it must not block, as the node handles nothing meanwhile. A panic in
	// it is logged (Logger) and the default delay is used for that attempt. A delay under 10 ms
	// (zero, negative) counts as 10 ms: a node of the cluster is dialled again for as long as the
	// map lists it, and there is no delay that stops the attempts. Default: 10–20 ms for the first
	// (a connection lost is most often one the server, or a proxy, closed with the server up: the
	// commands meanwhile wait for the next connection), then min(2^n × 50 ms, 2 s) plus 0–200 ms
	// of jitter.
	Reconnect func(attempt int) time.Duration
	// TopologyRefreshInterval is the period of background topology refreshes. Default 30 s;
	// negative disables them (MOVED replies and unreachable nodes still trigger refreshes).
	TopologyRefreshInterval time.Duration
	// HealthCheckInterval is how long a node's connection may go without a write before the client
	// sends a PING on it, which checks the connection and keeps it from the servers' idle timeout
	// (their `timeout` setting: a server closes a client idle that many seconds, and a command
	// written into a connection as the server closes it fails, may-have-run). Default 10 s: set it
	// below the servers' timeout when that is shorter. Negative disables the PINGs.
	HealthCheckInterval time.Duration
	// Logger receives the client's diagnostics. Default: discarded.
	Logger *slog.Logger
	// Hooks are called as the client works, for metrics and tracing (see Hooks). Default: none.
	Hooks Hooks
	// Limits bound the replies read from the servers: the longest bulk string, the most elements
	// of an aggregate, the deepest nesting, the longest simple string or error. A reply past one
	// fails its command, without a retry, with a *ConnError (written: it ran) wrapping a
	// *resp.ProtocolError that matches resp.ErrBulkTooLong, ErrAggregateTooLong, ErrTooDeep or
	// ErrLineTooLong. The connection is dropped: the other commands on it fail as written, and the
	// read-only and idempotent ones among them are retried. Zero fields take resp's defaults
	// (512 MiB, 1<<24 elements, 64 levels, 1 MiB). The client's own queries (the topology's
	// CLUSTER SHARDS, COMMAND at Connect) read with those defaults, whatever Limits says.
	Limits resp.Limits
}

// rootNode is a parsed root URL.
type rootNode struct {
	addr               string
	username, password string
	tls                bool
}

// validate checks the options and fills in defaults; it returns the parsed roots.
func (o *ClusterOptions) validate() ([]rootNode, error) {
	if len(o.RootNodes) == 0 {
		return nil, &ConfigError{Field: "RootNodes", Reason: "at least one root node is required"}
	}
	roots := make([]rootNode, 0, len(o.RootNodes))
	for i, n := range o.RootNodes {
		r, err := parseURL(n.URL)
		if err != nil {
			return nil, &ConfigError{Field: fmt.Sprintf("RootNodes[%d].URL", i), Reason: err.Error()}
		}
		if n.Username != "" { // each field given outside the URL overrides the URL's
			r.username = n.Username
		}
		if n.Password != "" {
			r.password = n.Password
		}
		r.tls = r.tls || n.TLS != nil
		roots = append(roots, r)
	}
	if o.Defaults.URL != "" {
		return nil, &ConfigError{Field: "Defaults.URL", Reason: "only root nodes have a URL"}
	}
	// One client reaches every node the same way, with TLS or without, and with one TLS
	// configuration: roots must not mix them (Defaults.TLS, when set, is the one for all).
	tlsConf := o.Defaults.TLS // the one configuration: Defaults', or the first root's
	for i, r := range roots {
		rootConf := o.RootNodes[i].TLS
		switch {
		case o.Defaults.TLS == nil && r.tls != roots[0].tls:
			return nil, &ConfigError{Field: fmt.Sprintf("RootNodes[%d]", i), Reason: "TLS differs from RootNodes[0]'s; every node is reached the same way (rediss:// or TLS on every root, or Defaults.TLS)"}
		case rootConf == nil:
		case tlsConf == nil:
			tlsConf = rootConf
		case rootConf != tlsConf:
			return nil, &ConfigError{Field: fmt.Sprintf("RootNodes[%d].TLS", i), Reason: "another TLS configuration than the other roots' or Defaults'; every node is reached with one (set it once, in Defaults.TLS)"}
		}
	}
	// One client authenticates to every node the same way: roots may repeat the credentials (or
	// Defaults'), or leave them to the one that has them, but not disagree.
	first := -1
	for i, r := range roots {
		switch {
		case r.username == "" && r.password == "":
		case o.Defaults.Username != "" || o.Defaults.Password != "":
			if r.username != o.Defaults.Username || r.password != o.Defaults.Password {
				return nil, &ConfigError{Field: fmt.Sprintf("RootNodes[%d]", i), Reason: "credentials differ from Defaults'; every node is reached with one set"}
			}
		case first < 0:
			first = i
		case r.username != roots[first].username || r.password != roots[first].password:
			return nil, &ConfigError{Field: fmt.Sprintf("RootNodes[%d]", i), Reason: fmt.Sprintf(
				"credentials differ from RootNodes[%d]'s; every node is reached with one set (see Defaults)", first)}
		}
	}
	switch o.RESP {
	case 0:
		o.RESP = 3
	case 2, 3:
	default:
		return nil, &ConfigError{Field: "RESP", Reason: fmt.Sprintf("must be 2 or 3, not %d", o.RESP)}
	}
	if o.MaxBlockingConns < 0 {
		return nil, &ConfigError{Field: "MaxBlockingConns", Reason: "must not be negative"}
	}
	if o.MaxBlockingConns == 0 {
		o.MaxBlockingConns = 8
	}
	if o.MaxCommandRedirections < 0 {
		return nil, &ConfigError{Field: "MaxCommandRedirections", Reason: "must not be negative"}
	}
	if o.MaxCommandRedirections == 0 {
		o.MaxCommandRedirections = 16
	}
	for field, d := range map[string]*time.Duration{"CommandTimeout": &o.CommandTimeout, "ConnectTimeout": &o.ConnectTimeout} {
		if *d < 0 {
			return nil, &ConfigError{Field: field, Reason: "must not be negative"}
		}
		if *d == 0 {
			*d = 5 * time.Second
		}
	}
	for _, c := range []byte(o.ClientName) {
		if c <= ' ' || c > '~' { // what the server refuses in every handshake
			return nil, &ConfigError{Field: "ClientName", Reason: "only printable ASCII without spaces is allowed"}
		}
	}
	for from, to := range o.NodeAddressMap {
		// An announced address may have the host "?" (none known); the address dialled needs one.
		if !validAddr(from, false) || !validAddr(to, true) {
			bad := from
			if validAddr(from, false) {
				bad = to
			}
			return nil, &ConfigError{Field: "NodeAddressMap", Reason: fmt.Sprintf("%q is not host:port (a port from 1 to 65535)", bad)}
		}
	}
	o.NodeAddressMap = maps.Clone(o.NodeAddressMap) // the caller may change its own afterwards
	o.RootNodes = slices.Clone(o.RootNodes)         // and its roots (Connect reads their TLS)
	if l := o.Limits; l.MaxBulkLen < 0 || l.MaxAggregateLen < 0 || l.MaxDepth < 0 || l.MaxLineLen < 0 {
		return nil, &ConfigError{Field: "Limits", Reason: "must not be negative (0 is the default)"}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return roots, nil
}

// validAddr reports whether a is "host:port" with a port from 1 to 65535 and, if needHost, a host.
func validAddr(a string, needHost bool) bool {
	host, port, err := net.SplitHostPort(a)
	if err != nil || needHost && host == "" {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p > 0 && p <= 65535
}

// parseURL reads "redis://[user:pass@]host:port"; its errors never quote the URL (it may hold a
// password).
func parseURL(raw string) (rootNode, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return rootNode{}, fmt.Errorf("not a URL (expected redis://[user:password@]host:port)")
	}
	var r rootNode
	switch u.Scheme {
	case "redis":
	case "rediss":
		r.tls = true
	default:
		return rootNode{}, fmt.Errorf("scheme must be redis or rediss, not %q", u.Scheme)
	}
	if !plainURL(u) {
		return rootNode{}, fmt.Errorf("a path, query or fragment is not supported: a cluster has database 0 only " +
			"(percent-encode '/', '?' and '#' in a password)")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || port == "" {
		return rootNode{}, fmt.Errorf("host and port are required (redis://host:port)")
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(u.Host, "[") {
		// url.Parse takes "127.0.0.1:7000:7001" as host "127.0.0.1:7000", port 7001.
		return rootNode{}, fmt.Errorf("host %q has a colon: one port per URL, and an IPv6 address in brackets "+
			"(redis://[::1]:7000)", host)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return rootNode{}, fmt.Errorf("port %q is not a port number", port)
	}
	r.addr = net.JoinHostPort(host, port)
	if u.User != nil {
		r.username = u.User.Username()
		r.password, _ = u.User.Password()
		if _, hasPw := u.User.Password(); !hasPw {
			// redis://password@host: a lone user part is the password of the default user.
			r.username, r.password = "", u.User.Username()
		}
	}
	return r, nil
}

// plainURL reports whether u has no more than scheme, user and host: a path of "/" or "/0" at
// most, no query, no fragment.
func plainURL(u *url.URL) bool {
	return (u.Path == "" || u.Path == "/" || u.Path == "/0") && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if !plainURL(u) {
		return "(URL not of the form redis://[user:password@]host:port)" // it may be a password cut short
	}
	if u.User != nil {
		if _, hasPw := u.User.Password(); !hasPw {
			u.User = url.User("xxxxx") // a lone user part is a password
		}
	}
	return u.Redacted()
}
