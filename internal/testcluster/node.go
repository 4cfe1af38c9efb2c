package testcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Roles reported by Node.Role.
const (
	RoleMaster  = "master"
	RoleReplica = "replica"
)

// maxIdleConns is how many admin connections a Node keeps for reuse.
const maxIdleConns = 4

// Node is one redis-server process started by the harness, in a cluster or standalone. Its ports, node id
// and directory stay the same across Kill and Restart. A Node is safe for concurrent use.
type Node struct {
	index    int
	dir      string
	bin      string
	tlsCfg   *tls.Config // nil for plain text
	password string
	users    []User
	conf     serverConfig // ports are filled in by configure
	pooled   bool         // started by the pool, in a directory of its own that its cluster removes

	mu       sync.Mutex
	port     int
	busPort  int
	confPath string
	id       string
	role     string
	masterID string
	proc     *process // the current or last run; nil before the first start
	gen      uint64   // incremented at every start and kill; pooled connections of older runs are dropped
	idle     []*adminConn
	detached bool // taken out of the cluster by Cluster.Detach, running on its own until Join
}

// Addr returns the node's address, "127.0.0.1:port" (the TLS port when TLS is on).
func (n *Node) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.Port()) }

// Port returns the port clients connect to (the TLS port when TLS is on).
func (n *Node) Port() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.port
}

// BusPort returns the cluster bus port (0 for a standalone server).
func (n *Node) BusPort() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.busPort
}

// ID returns the cluster node id ("" for a standalone server).
func (n *Node) ID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id
}

// PID returns the process id of the current run, or of the last one if the node is not running.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return 0
	}
	return n.proc.pid
}

// Role returns RoleMaster or RoleReplica as last seen by the harness; Cluster.Masters, Cluster.Replicas
// and the Wait helpers refresh it. A standalone server is a master.
func (n *Node) Role() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.role
}

// IsMaster reports whether Role is RoleMaster.
func (n *Node) IsMaster() bool { return n.Role() == RoleMaster }

// Running reports whether the node's process is running (it was not killed and did not exit).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

// member reports whether the node is running as a node of the cluster (not detached): the one the
// cluster's checks ask.
func (n *Node) member() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited() && !n.detached
}

// Dir returns the node's temporary directory (redis.conf, redis.log, nodes.conf). It is removed by Stop.
func (n *Node) Dir() string { return n.dir }

// LogTail returns the last lines of the node's redis.log, for failure messages.
func (n *Node) LogTail(lines int) string {
	return tailLines(logsSince(n.dir, logOffsets{}), lines)
}

// String returns the address and, when known, the role.
func (n *Node) String() string {
	if r := n.Role(); r != "" {
		return n.Addr() + " (" + r + ")"
	}
	return n.Addr()
}

// Do sends one command to the node and returns its reply: string (simple and bulk strings), int64, nil
// (null bulk or array) or []any (arrays, nested). An error reply is returned as an error wrapping a
// *ServerError; every error names the node's address and the command. Do authenticates as the default
// user when Options.Password is set, uses TLS when it is on, and fails at once when the node is not
// running. Connections are pooled per node, so do not send commands that change the connection's state
// (SUBSCRIBE, MONITOR, SELECT, AUTH as another user, RESET).
func (n *Node) Do(ctx context.Context, args ...string) (any, error) {
	v, err := n.do(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("testcluster: %s: %s: %w", n.Addr(), commandName(args), err)
	}
	return v, nil
}

// Info runs INFO section on the node and returns its "key:value" fields.
func (n *Node) Info(ctx context.Context, section string) (map[string]string, error) {
	v, err := n.Do(ctx, "INFO", section)
	if err != nil {
		return nil, err
	}
	return parseInfo(v), nil
}

// BlockedClients is the node's count of clients blocked in a command (INFO clients).
func (n *Node) BlockedClients(ctx context.Context) (int, error) {
	info, err := n.Info(ctx, "clients")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(info["blocked_clients"])
}

// InfoCount returns the count name of the INFO field key of the node's section: "calls" of
// "cmdstat_ping" in commandstats, "count" of "errorstat_TRYAGAIN" in errorstats. A field the server
// has not written yet (nothing counted) is 0.
func (n *Node) InfoCount(ctx context.Context, section, key, name string) (int, error) {
	info, err := n.Info(ctx, section)
	if err != nil {
		return 0, err
	}
	for _, kv := range strings.Split(info[key], ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return strconv.Atoi(v)
		}
	}
	return 0, nil
}

// do is Do with unwrapped errors.
func (n *Node) do(ctx context.Context, args ...string) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("no command given")
	}
	a, err := n.getConn(ctx)
	if err != nil {
		return nil, err
	}
	v, err := a.do(ctx, args)
	if err != nil {
		a.close()
		return nil, err
	}
	n.putConn(a)
	if se, ok := v.(*ServerError); ok {
		return nil, se
	}
	return v, nil
}

// getConn returns a pooled connection or dials a new one.
func (n *Node) getConn(ctx context.Context) (*adminConn, error) {
	n.mu.Lock()
	if n.proc == nil || n.proc.exited() {
		n.mu.Unlock()
		return nil, errors.New("node is not running")
	}
	if k := len(n.idle); k > 0 {
		a := n.idle[k-1]
		n.idle = n.idle[:k-1]
		n.mu.Unlock()
		return a, nil
	}
	gen, addr := n.gen, "127.0.0.1:"+strconv.Itoa(n.port)
	n.mu.Unlock()
	a, err := dialAdmin(ctx, addr, n.tlsCfg, n.password)
	if err != nil {
		return nil, err
	}
	a.gen = gen
	return a, nil
}

// putConn returns a healthy connection to the pool, or closes it if it belongs to an older run.
func (n *Node) putConn(a *adminConn) {
	n.mu.Lock()
	if a.gen == n.gen && len(n.idle) < maxIdleConns {
		n.idle = append(n.idle, a)
		a = nil
	}
	n.mu.Unlock()
	if a != nil {
		a.close()
	}
}

// configure reserves new ports and writes a fresh redis.conf (first start only).
func (n *Node) configure() error {
	ports, err := reservePortsFunc(2)
	if err != nil {
		return err
	}
	n.mu.Lock()
	old := []int{n.port, n.busPort}
	n.port = ports[0]
	n.busPort = 0
	conf := n.conf
	conf.port = ports[0]
	if conf.cluster {
		n.busPort = ports[1]
		conf.busPort = ports[1]
	}
	n.mu.Unlock()
	releasePorts(old...)
	if !conf.cluster {
		releasePorts(ports[1])
	}
	// A failed attempt may have left a nodes.conf naming the old ports.
	if err := os.Remove(filepath.Join(n.dir, nodesFileName)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("testcluster: %w", err)
	}
	path, err := conf.write()
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.confPath = path
	n.mu.Unlock()
	return nil
}

// dropData removes the RDB files in the node's directory (dump.rdb, which a replica writes as it
// loads a full sync, and temporary ones), so that the node starts empty.
func (n *Node) dropData() error {
	files, err := filepath.Glob(filepath.Join(n.dir, "*.rdb"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("testcluster: restart %s: %w", n.Addr(), err)
		}
	}
	return nil
}

// start runs the server and waits until it answers. The first start (fresh) picks free ports, and picks
// new ones when a port turns out to be taken; a restart reuses the ports, the config and nodes.conf, so
// the node keeps its id.
func (n *Node) start(ctx context.Context, fresh bool) error {
	const attempts = 5
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if fresh {
			if err := n.configure(); err != nil {
				return err
			}
		}
		off := currentLogOffsets(n.dir)
		n.mu.Lock()
		confPath := n.confPath
		n.mu.Unlock()
		p, err := spawn(n.bin, n.dir, confPath)
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.proc = p
		n.gen++
		n.mu.Unlock()
		err = n.waitReachable(ctx, p)
		if err == nil {
			return n.applyUsers(ctx)
		}
		n.kill()
		logs := logsSince(n.dir, off)
		lastErr = fmt.Errorf("testcluster: start redis-server on %s (pid %d, attempt %d, dir %s): %w\n"+
			"--- end of its log ---\n%s", n.Addr(), p.pid, attempt, n.dir, err, tailLines(logs, 20))
		if !(addrInUse(logs) || errors.Is(err, errPortTaken)) || ctx.Err() != nil {
			return lastErr
		}
		// Another process took a port between our check and the server's bind. A first start retries
		// with new ports; a restart must keep its ports and waits for them instead.
		if !fresh && !sleepCtx(ctx, 100*time.Millisecond) {
			return lastErr
		}
	}
	return lastErr
}

// waitReachable polls the new process until it answers INFO with its own process id (so that a foreign
// server that took the port is never mistaken for it).
func (n *Node) waitReachable(ctx context.Context, p *process) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// A probe blocked on whatever holds the port ends when the process exits.
	probeCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-probeCtx.Done():
		}
	}()
	var lastErr error
	for {
		if p.exited() {
			return fmt.Errorf("redis-server exited at once (%v)", p.err)
		}
		err := n.probe(probeCtx, p.pid)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPortTaken) {
			return err
		}
		var se *ServerError
		if errors.As(err, &se) {
			// Either the server refuses us (a bad option: waiting will not help), or a foreign server
			// holds the port, and ours is about to exit with "Address already in use": give it time to
			// say so.
			p.waitExit(500 * time.Millisecond)
			return err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("not reachable: %w; last attempt: %v", context.Cause(ctx), lastErr)
		case <-p.done:
		case <-tick.C:
		}
	}
}

// probe checks that the server at the node's port is the process pid.
func (n *Node) probe(ctx context.Context, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := n.do(ctx, "INFO", "server")
	if err != nil {
		return err
	}
	if got := parseInfo(v)["process_id"]; got != strconv.Itoa(pid) {
		return fmt.Errorf("%w: port %d is served by process %s, not by pid %d", errPortTaken, n.Port(), got, pid)
	}
	return nil
}

// errPortTaken reports that another process serves a port reserved for a node.
var errPortTaken = errors.New("port taken by another server")

// applyUsers creates Options.Users with ACL SETUSER.
func (n *Node) applyUsers(ctx context.Context) error {
	for _, u := range n.users {
		args := append([]string{"ACL", "SETUSER", u.Name}, u.Rules...)
		if u.Password != "" {
			args = append(args, ">"+u.Password)
		}
		if _, err := n.do(ctx, args...); err != nil {
			return fmt.Errorf("testcluster: %s: ACL SETUSER %s: %w", n.Addr(), u.Name, err)
		}
	}
	return nil
}

// kill SIGKILLs the process (if running), reaps it and drops pooled connections.
func (n *Node) kill() {
	n.mu.Lock()
	p, idle := n.proc, n.idle
	n.idle = nil
	n.gen++
	n.mu.Unlock()
	for _, a := range idle {
		a.close()
	}
	if p != nil {
		p.kill()
	}
}

// stop shuts the server down with SHUTDOWN NOSAVE NOW, falls back to SIGKILL, reaps it and releases its
// ports.
func (n *Node) stop() {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p != nil && !p.exited() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = n.do(ctx, "SHUTDOWN", "NOSAVE", "NOW") // the server closes the connection: an error
		cancel()
		p.waitExit(2 * time.Second)
	}
	n.kill()
	n.mu.Lock()
	ports := []int{n.port, n.busPort}
	n.mu.Unlock()
	releasePorts(ports...)
}

// refreshSelf reads the node's own line of CLUSTER NODES and records its id, role and master id.
func (n *Node) refreshSelf(ctx context.Context) error {
	v, err := n.Do(ctx, "CLUSTER", "NODES")
	if err != nil {
		return err
	}
	s, _ := v.(string)
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !hasFlag(f[2], "myself") {
			continue
		}
		role := RoleMaster
		if hasFlag(f[2], "slave") {
			role = RoleReplica
		}
		master := f[3]
		if master == "-" {
			master = ""
		}
		n.mu.Lock()
		n.id, n.role, n.masterID = f[0], role, master
		n.mu.Unlock()
		return nil
	}
	return fmt.Errorf("testcluster: %s: CLUSTER NODES has no myself line: %q", n.Addr(), s)
}

// masterIDSeen returns the master id recorded by the last refreshSelf ("" for a master).
func (n *Node) masterIDSeen() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.masterID
}

func (n *Node) setRole(role string) {
	n.mu.Lock()
	n.role = role
	n.mu.Unlock()
}

// hasFlag reports whether the comma-separated CLUSTER NODES flags contain flag.
func hasFlag(flags, flag string) bool {
	for _, f := range strings.Split(flags, ",") {
		if f == flag {
			return true
		}
	}
	return false
}
