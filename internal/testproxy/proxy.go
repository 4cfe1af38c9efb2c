package testproxy

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Fault is what the proxy does to the traffic passing through it, from Set on.
type Fault int

const (
	None    Fault = iota
	Latency       // replies are held back by the delay
	// Blackhole: nothing passes either way, and connections stay open (no RST, no FIN), as in a
	// network partition. What was sent meanwhile arrives once it ends, as TCP delivers it when a
	// partition heals: no byte in the middle of a stream is lost.
	Blackhole
	SlowRead // the proxy stops reading what the client writes
)

// Options shape every connection the proxy accepts; the zero value forwards them untouched.
type Options struct {
	// Refuse is how many connections, the first ones, are closed as soon as they are accepted.
	Refuse int
	// FirstReplyDelay holds each connection's first reply back that long: a slow handshake.
	FirstReplyDelay time.Duration
}

// Proxy forwards the connections it accepts to one target address. It is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	opts   Options

	mu       sync.Mutex
	accepted int
	mode     Fault
	delay    time.Duration
	inject   []byte // replaces the next chunk of replies on a command connection, once
	pairs    map[*pair]struct{}
	change   chan struct{} // closed and replaced at every mode change, to wake paused pumps
	armed    bool
	gate     chan struct{} // closed by Open
	held     chan struct{} // a connection reached the gate

	once sync.Once
	wg   sync.WaitGroup
}

// pair is one client connection and the proxy's to the server. query marks one that asked for
// the topology (CLUSTER SHARDS or SLOTS): a slot map's one-off queries, which a refresh may send
// to any node at any time; commands one that has sent something past its handshake (HELLO), and
// not a topology query: a node's command connection. Injected bytes go to those only: a refresh
// would take them (in the reply to its HELLO, before it asks for the topology) and try the next
// node, and the test would wait for a failure that never comes. Guarded by Proxy.mu.
type pair struct {
	client, server net.Conn
	query          bool
	commands       bool
}

// New starts a proxy to target, closed when the test ends.
func New(t testing.TB, target string) *Proxy { return NewWith(t, target, Options{}) }

// NewWith is New with opts.
func NewWith(t testing.TB, target string, opts Options) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &Proxy{ln: ln, target: target, opts: opts, pairs: map[*pair]struct{}{}, change: make(chan struct{}),
		gate: make(chan struct{}), held: make(chan struct{}, 16)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's "host:port", to dial in place of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set makes the proxy apply mode to the traffic from now on, with delay for Latency.
func (p *Proxy) Set(mode Fault, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.delay = mode, delay
	close(p.change)
	p.change = make(chan struct{})
}

// InjectOnce makes the next chunk of replies from the server, on a command connection (see pair),
// be b instead.
func (p *Proxy) InjectOnce(b string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inject = []byte(b)
}

// Describe tells what the proxy holds, for a failure message: its connections, how many of them
// asked for the topology, and whether injected bytes still wait for a reply to replace.
func (p *Proxy) Describe() string {
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

// HalfClose closes the proxy's side towards every client for writing: clients read EOF.
func (p *Proxy) HalfClose() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.pairs {
		_ = pr.client.(*net.TCPConn).CloseWrite()
	}
}

// Send writes b to every client now, as if the server had sent it.
func (p *Proxy) Send(b string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.pairs {
		_, _ = pr.client.Write([]byte(b))
	}
}

// Arm makes the proxy hold each connection it accepts from now on at a gate, before it dials the
// target, until Open: the client is connected, and its handshake waits.
func (p *Proxy) Arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = true
}

// Open lets every connection held at the gate through, and those that come later.
func (p *Proxy) Open() { p.once.Do(func() { close(p.gate) }) }

// AwaitHeld waits for a connection to reach the gate, failing t after 10 s.
func (p *Proxy) AwaitHeld(t testing.TB) {
	t.Helper()
	select {
	case <-p.held:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection reached the gate")
	}
}

func (p *Proxy) state() (Fault, time.Duration, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay, p.change
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted++
		refused, armed := p.accepted <= p.opts.Refuse, p.armed
		pr := &pair{client: c}
		if !refused {
			p.pairs[pr] = struct{}{}
		}
		p.mu.Unlock()
		if refused {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.connect(pr, armed)
	}
}

// connect dials the target for pr's client, once through the gate if armed, and pumps both ways.
func (p *Proxy) connect(pr *pair, armed bool) {
	defer p.wg.Done()
	if armed {
		select {
		case p.held <- struct{}{}:
		default: // AwaitHeld has 16 to see already
		}
		<-p.gate
	}
	s, err := net.Dial("tcp", p.target)
	p.mu.Lock()
	_, open := p.pairs[pr] // Close may have come meanwhile
	if err == nil && open {
		pr.server = s
		p.wg.Add(2)
	}
	p.mu.Unlock()
	switch {
	case err != nil:
		p.forget(pr)
	case !open:
		_ = s.Close()
	default:
		go p.pump(pr, pr.client, s, false)
		go p.pump(pr, s, pr.client, true)
	}
}

// forget closes pr's connections and drops it.
func (p *Proxy) forget(pr *pair) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr.close()
	delete(p.pairs, pr)
}

func (pr *pair) close() {
	_ = pr.client.Close()
	if pr.server != nil {
		_ = pr.server.Close()
	}
}

// pump copies from src to dst, applying the fault; replies is true for server → client.
func (p *Proxy) pump(pr *pair, src, dst net.Conn, replies bool) {
	defer p.wg.Done()
	defer p.forget(pr)
	buf := make([]byte, 32<<10)
	for first := true; ; first = false {
		if mode, _, change := p.state(); mode == Blackhole || mode == SlowRead && !replies {
			<-change // stop reading until the fault ends
			continue
		}
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		chunk := buf[:n]
		mode, delay, change := p.state()
		for mode == Blackhole { // held, not dropped: a TCP stream loses no byte in its middle
			<-change
			mode, delay, change = p.state()
		}
		switch {
		case mode == Latency && replies:
			time.Sleep(delay) // the fault injected: replies arrive late
		case first && replies && p.opts.FirstReplyDelay > 0:
			time.Sleep(p.opts.FirstReplyDelay) // the option: a slow handshake
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

// Close stops the proxy: it stops listening, closes every connection, opens the gate, and waits
// for its goroutines.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.Set(None, 0)
	p.Open()
	p.mu.Lock()
	for pr := range p.pairs {
		pr.close()
	}
	clear(p.pairs)
	p.mu.Unlock()
	p.wg.Wait()
}
