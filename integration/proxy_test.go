package integration

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fault is what the proxy does to the traffic passing through it.
type fault int

const (
	faultNone      fault = iota
	faultLatency         // replies are held back by delay
	faultBlackhole       // nothing passes either way; connections stay open (no RST, no FIN)
	faultSlowRead        // the proxy stops reading what the client writes
)

// proxy is an in-test TCP proxy between the client and one node, which can delay, swallow or
// replace the traffic, half-close connections, and inject bytes.
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	mode   fault
	delay  time.Duration
	inject []byte // replaces the next chunk of replies on a command connection, once
	pairs  map[*pair]struct{}
	change chan struct{} // closed and replaced at every mode change, to wake paused pumps

	wg sync.WaitGroup
}

// pair is one client connection and the proxy's to the server. query marks one that asked for
// the topology (CLUSTER SHARDS or SLOTS): the slot map's one-off queries, which a refresh may send
// to any node at any time; commands one that has sent something past its handshake (HELLO), and
// not a topology query: a node's command connection. Injected bytes go to those only: a refresh
// would take them (in the reply to its HELLO, before it asks for the topology) and try the next
// node, and the test would wait for a failure that never comes. Guarded by proxy.mu.
type pair struct {
	client, server net.Conn
	query          bool
	commands       bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target, pairs: map[*pair]struct{}{}, change: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) set(mode fault, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.delay = mode, delay
	close(p.change)
	p.change = make(chan struct{})
}

// injectOnce makes the next chunk of replies from the server, on a command connection (see pair),
// be b instead.
func (p *proxy) injectOnce(b string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inject = []byte(b)
}

// describe tells what the proxy holds, for a failure message: its connections, how many of them
// asked for the topology, and whether injected bytes are still waiting for a reply to replace.
func (p *proxy) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	queries := 0
	for pr := range p.pairs {
		if pr.query {
			queries++
		}
	}
	return fmt.Sprintf("%d connections, %d of them topology queries, injection pending: %v",
		len(p.pairs), queries, p.inject != nil)
}

// halfClose closes the proxy's side towards every client for writing: clients read EOF.
func (p *proxy) halfClose() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.pairs {
		_ = pr.client.(*net.TCPConn).CloseWrite()
	}
}

// send writes b to every client now, as if the server had sent it.
func (p *proxy) send(b string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.pairs {
		_, _ = pr.client.Write([]byte(b))
	}
}

func (p *proxy) state() (fault, time.Duration, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay, p.change
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		pr := &pair{client: c, server: s}
		p.mu.Lock()
		p.pairs[pr] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pump(pr, c, s, false)
		go p.pump(pr, s, c, true)
	}
}

// pump copies from src to dst, applying the fault; replies is true for server → client.
func (p *proxy) pump(pr *pair, src, dst net.Conn, replies bool) {
	defer p.wg.Done()
	defer func() {
		_ = pr.client.Close()
		_ = pr.server.Close()
		p.mu.Lock()
		delete(p.pairs, pr)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		mode, _, change := p.state()
		if mode == faultSlowRead && !replies {
			<-change // stop reading the client until the fault ends
			continue
		}
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		chunk := buf[:n]
		mode, delay, _ := p.state()
		switch {
		case mode == faultBlackhole:
			continue // swallowed
		case mode == faultLatency && replies:
			time.Sleep(delay) // the fault being injected: replies arrive late
		}
		p.mu.Lock()
		switch {
		case !replies && bytes.Contains(chunk, []byte("CLUSTER")):
			pr.query = true
		case !replies && !bytes.Contains(chunk, []byte("HELLO")):
			pr.commands = true
		case replies && p.inject != nil && pr.commands && !pr.query:
			chunk, p.inject = p.inject, nil
		}
		p.mu.Unlock()
		if _, err := dst.Write(chunk); err != nil {
			return
		}
	}
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.set(faultNone, 0)
	p.mu.Lock()
	for pr := range p.pairs {
		_ = pr.client.Close()
		_ = pr.server.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
