package main

import (
	"context"
	"strconv"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// servers are the nodes whose counters the bench reads, looked up once: roles do not change
// during a run.
type servers struct {
	masters []*testcluster.Node
	all     []*testcluster.Node // the masters and their replicas
}

func serversOf(local *testcluster.Cluster) servers {
	return servers{masters: local.Masters(), all: local.Nodes()}
}

// serverStats are the servers' counters at one moment.
type serverStats struct {
	cmds, reads int64   // summed over the masters
	cpu         float64 // seconds of CPU (user + system), summed over every server, replicas too
	complete    bool    // every server answered
}

// counters reads the servers' counters: INFO stats of the masters, INFO cpu of every server.
func (s servers) counters(ctx context.Context) serverStats {
	st := serverStats{complete: true}
	for _, n := range s.masters {
		fields, err := n.Info(ctx, "stats")
		if err != nil {
			st.complete = false
			continue
		}
		st.cmds += parseInt(fields["total_commands_processed"])
		st.reads += parseInt(fields["total_reads_processed"])
	}
	for _, n := range s.all {
		fields, err := n.Info(ctx, "cpu")
		if err != nil {
			st.complete = false
			continue
		}
		st.cpu += cpuSeconds(fields)
	}
	return st
}

// cpuSeconds is a server's CPU time since it started, from its INFO cpu fields.
func cpuSeconds(fields map[string]string) float64 {
	return parseFloat(fields["used_cpu_user"]) + parseFloat(fields["used_cpu_sys"])
}

// cmdsPerRead is how many commands a master got per socket read between two readings: how well
// the client batched its writes, seen from the server. It is 0 (shown as "—") when a server did
// not answer.
func cmdsPerRead(before, after serverStats) float64 {
	if !before.complete || !after.complete {
		return 0
	}
	return float64(after.cmds-before.cmds) / float64(max(after.reads-before.reads, 1))
}

// serverCPUusPerOp is the CPU the servers used between two readings, per operation of the client,
// in µs: all six servers' CPU over the window, replication included, and also their idle work and
// the harness's INFO calls. On a machine whose cores the client shares with its servers, ops/s can
// be no more than cores / (client + server CPU per op). It is 0 (shown as "—") when the client made
// no operation or a server did not answer.
func serverCPUusPerOp(before, after serverStats, ops int64) float64 {
	if ops <= 0 || !before.complete || !after.complete {
		return 0
	}
	return (after.cpu - before.cpu) * 1e6 / float64(ops)
}

func parseInt(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func parseFloat(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}
