package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// The bench reads the CPU of every server, the replicas too (their share is the replication of the
// writes), and the commands and reads of the masters; the counters grow with a client's load.
func TestServerCountersFollowTheLoad(t *testing.T) {
	local := testcluster.New(t, testcluster.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s := serversOf(local)
	if len(s.masters) != 3 || len(s.all) != 6 {
		t.Fatalf("the bench reads %d masters and %d servers, want 3 and 6", len(s.masters), len(s.all))
	}
	for _, r := range local.Replicas() {
		if !containsNode(s.all, r) {
			t.Errorf("replica %s is not among the servers whose CPU is read", r.Addr())
		}
	}
	c, err := newClient(ctx, "actoredis", local.Addrs()[:3])
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()

	before := s.counters(ctx)
	const n = 20_000
	if err := prefill(ctx, c.(actoredisClient).c, 1024, n, []byte(strings.Repeat("v", 1024))); err != nil {
		t.Fatal(err)
	}
	after := s.counters(ctx)
	if !before.complete || !after.complete {
		t.Fatalf("a server did not answer: %+v, %+v", before, after)
	}
	if got := after.cmds - before.cmds; got < n {
		t.Errorf("the masters counted %d commands, want at least the %d SETs", got, n)
	}
	if r := cmdsPerRead(before, after); r < 1 {
		t.Errorf("%.2f commands per read for %d pipelined SETs, want at least 1", r, n)
	}
	if cpu := serverCPUusPerOp(before, after, n); cpu <= 0 {
		t.Errorf("the servers used %.3f µs of CPU per SET", cpu)
	}
}

func containsNode(nodes []*testcluster.Node, n *testcluster.Node) bool {
	for _, m := range nodes {
		if m.Addr() == n.Addr() {
			return true
		}
	}
	return false
}

func TestServerFiguresPerWindow(t *testing.T) {
	if got := cpuSeconds(map[string]string{"used_cpu_user": "1.500000", "used_cpu_sys": "0.250000"}); got != 1.75 {
		t.Errorf("cpuSeconds = %v, want 1.75 (user + system)", got)
	}
	before := serverStats{cmds: 100, reads: 10, cpu: 2.0, complete: true}
	after := serverStats{cmds: 1100, reads: 60, cpu: 2.5, complete: true}
	if got := serverCPUusPerOp(before, after, 250_000); got != 2.0 {
		t.Errorf("0.5 s over 250k ops = %v µs/op, want 2", got)
	}
	if got := cmdsPerRead(before, after); got != 20 {
		t.Errorf("1000 commands in 50 reads = %v per read, want 20", got)
	}
	incomplete := after
	incomplete.complete = false
	for name, got := range map[string]float64{
		"no ops":               serverCPUusPerOp(before, after, 0),
		"CPU, no answer":       serverCPUusPerOp(before, incomplete, 250_000),
		"cmds/read, no answer": cmdsPerRead(incomplete, after),
	} {
		if got != 0 {
			t.Errorf("%s: %v, want 0 (shown as —)", name, got)
		}
	}
}

// The report carries the server CPU per operation: the median over the runs that measured it, "—"
// for a client none of whose runs did (results written before it was measured).
func TestReportShowsServerCPU(t *testing.T) {
	r := results{Runs: 5}
	for run, v := range []float64{7.2, 5.9, 0, 6.5, 8.0} { // run 3 lacks it: the median is of the other four
		r.Cells = append(r.Cells,
			cell{Op: "SET", Size: 1024, Concurrency: 1024, Client: "actoredis", Run: run + 1, OpsPerSec: 1, ServerCPUusPerOp: v},
			cell{Op: "SET", Size: 1024, Concurrency: 1024, Client: "rueidis", Run: run + 1, OpsPerSec: 1})
	}
	md := string(writeMarkdown(r))
	if !strings.Contains(md, "| server CPU µs/op |") {
		t.Fatalf("no server CPU column in\n%s", md)
	}
	for row, want := range map[string]string{"| 1024 | actoredis | 1 |": "6.85", "| 1024 | rueidis | 1 |": "—"} {
		line := lineWith(md, row)
		if line == "" {
			t.Fatalf("no row %q in\n%s", row, md)
		}
		cols := strings.Split(line, "|")
		if got := strings.TrimSpace(cols[len(cols)-3]); got != want { // the last columns: server CPU, errors, ""
			t.Errorf("row %q: server CPU %q, want %q", line, got, want)
		}
	}
}

func lineWith(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
