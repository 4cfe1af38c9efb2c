package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// The counters grow with the commands a client sends: the masters' commands and reads, and the CPU
// of every server, replicas included (their share is the replication of the writes).
func TestServerCountersFollowTheLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	local, err := testcluster.Start(ctx, testcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Stop()
	c, err := newClient(ctx, "actoredis", local.Addrs()[:3])
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()

	before, masters0, replicas0 := serverCounters(ctx, local), cpuOf(ctx, local.Masters()), cpuOf(ctx, local.Replicas())
	const n = 20_000
	value := []byte(strings.Repeat("v", 1024))
	if err := prefill(ctx, c.(actoredisClient).c, len(value), n, value); err != nil {
		t.Fatal(err)
	}
	after, masters1, replicas1 := serverCounters(ctx, local), cpuOf(ctx, local.Masters()), cpuOf(ctx, local.Replicas())

	if got := after.cmds - before.cmds; got < n {
		t.Errorf("the masters counted %d commands, want at least the %d SETs", got, n)
	}
	if after.reads <= before.reads || after.reads-before.reads > after.cmds-before.cmds {
		t.Errorf("reads went from %d to %d for %d commands", before.reads, after.reads, after.cmds-before.cmds)
	}
	masters, replicas := masters1-masters0, replicas1-replicas0
	if masters <= 0 || replicas <= 0 {
		t.Fatalf("CPU grew by %.6f s on the masters and %.6f s on the replicas for %d SETs", masters, replicas, n)
	}
	// The three reads of a server are a few INFO calls apart: allow a little for those.
	if got, want := after.cpu-before.cpu, masters+replicas; math.Abs(got-want) > 0.05*want+0.005 {
		t.Errorf("server CPU grew by %.6f s; the masters' %.6f s and the replicas' %.6f s make %.6f s",
			got, masters, replicas, want)
	}
}

// The report carries the server CPU per operation: the median over the runs, "—" for results
// written before it was measured.
func TestReportShowsServerCPU(t *testing.T) {
	r := results{Runs: 3}
	for run, v := range []float64{6.5, 5.9, 7.2} {
		r.Cells = append(r.Cells,
			cell{Op: "SET", Size: 1024, Concurrency: 1024, Client: "actoredis", Run: run + 1, OpsPerSec: 1, ServerCPUusPerOp: v},
			cell{Op: "SET", Size: 1024, Concurrency: 1024, Client: "rueidis", Run: run + 1, OpsPerSec: 1})
	}
	md := string(writeMarkdown(r))
	if !strings.Contains(md, "| server CPU µs/op |") {
		t.Fatalf("no server CPU column in\n%s", md)
	}
	for _, want := range []string{"| 1024 | actoredis | 1 |", "| 1024 | rueidis | 1 |"} {
		line := lineWith(md, want)
		if line == "" {
			t.Fatalf("no row %q in\n%s", want, md)
		}
		cols := strings.Split(line, "|")
		got := strings.TrimSpace(cols[len(cols)-3]) // the last columns: server CPU, errors, ""
		if wantCPU := map[bool]string{true: "6.50", false: "—"}[strings.Contains(want, "actoredis")]; got != wantCPU {
			t.Errorf("row %q: server CPU %q, want %q", line, got, wantCPU)
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
