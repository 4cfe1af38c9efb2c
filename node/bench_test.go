package node

import (
	"bufio"
	"net"
	"strconv"
	"testing"

	"github.com/actoredis/actoredis/internal/benchload"
	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/resp"
)

// Round trips of GET against a real redis-server on loopback, with 1, 64 and 1024 concurrent
// callers: the node actor (flushing on a self-sent Flush message, or on the mailbox's Drained
// signal) against a hand-written bufio pipeline (one writer and one reader goroutine, channels).
//
//	go test ./node -run '^$' -bench RoundTrip -benchmem
//
// batch/write is the mean number of commands per write.

var benchCallers = []int{1, 64, 1024}

func BenchmarkRoundTrip(b *testing.B) {
	srv := testcluster.NewStandalone(b, testcluster.Options{})
	if _, err := srv.Do(b.Context(), "SET", "bench:key", "0123456789abcdef"); err != nil {
		b.Fatal(err)
	}
	for _, callers := range benchCallers {
		for _, mode := range []struct {
			name    string
			drained bool
		}{{"actor-flush-msg", false}, {"actor-drained", true}} {
			b.Run(mode.name+"/callers="+strconv.Itoa(callers), func(b *testing.B) {
				n := startNode(b, Options{Addr: srv.Addr(), flushOnDrained: mode.drained})
				args := []any{"GET", "bench:key"}
				warm := NewRequest(args...)
				n.Send(warm)
				if _, err := warm.Await(); err != nil {
					b.Fatal(err)
				}
				before := n.Stats()
				benchload.RunCallers(b, callers, func() error {
					r := NewRequest(args...)
					n.Send(r)
					_, err := r.Await()
					return err
				})
				after := n.Stats()
				b.ReportMetric(float64(after.Commands-before.Commands)/float64(max(1, after.Writes-before.Writes)), "batch/write")
			})
		}
		b.Run("bufio-pipeline/callers="+strconv.Itoa(callers), func(b *testing.B) {
			p := newPipeline(b, srv.Addr())
			benchload.RunCallers(b, callers, func() error { return p.get("bench:key") })
			p.close()
		})
	}
}

// pipeline is the baseline: the simplest correct hand-written auto-pipelining client.
type pipeline struct {
	nc       net.Conn
	requests chan *pipeReq
	inflight chan *pipeReq
	done     chan struct{}
}

type pipeReq struct {
	key   string
	reply chan error
}

func newPipeline(b *testing.B, addr string) *pipeline {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	p := &pipeline{nc: nc, requests: make(chan *pipeReq, 4096), inflight: make(chan *pipeReq, 4096), done: make(chan struct{})}
	go p.write()
	go p.read()
	return p
}

func (p *pipeline) get(key string) error {
	r := &pipeReq{key: key, reply: make(chan error, 1)}
	p.requests <- r
	return <-r.reply
}

func (p *pipeline) write() {
	w := bufio.NewWriterSize(p.nc, 64<<10)
	var buf []byte
	for r := range p.requests {
		for {
			buf = resp.AppendStrings(buf[:0], "GET", r.key)
			_, _ = w.Write(buf)
			p.inflight <- r
			select {
			case r = <-p.requests:
				continue
			default:
			}
			break
		}
		if w.Flush() != nil {
			return
		}
	}
	close(p.inflight)
}

func (p *pipeline) read() {
	defer close(p.done)
	rd := resp.NewReader(p.nc, resp.Limits{})
	for r := range p.inflight {
		v, err := rd.Read()
		if err == nil {
			_ = v.Clone()
		}
		r.reply <- err
	}
}

func (p *pipeline) close() {
	close(p.requests)
	<-p.done
	_ = p.nc.Close()
}
