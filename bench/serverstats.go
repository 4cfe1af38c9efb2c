package main

import (
	"context"
	"strconv"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// serverStats are the servers' counters at one moment.
type serverStats struct {
	cmds, reads int64   // summed over the masters
	cpu         float64 // seconds of CPU (user + system), summed over every server, replicas too
}

// serverCounters reads the servers' counters (INFO stats and cpu); a server that does not answer
// counts zero. The ratio of commands to reads over a window is how many commands a master got per
// read: how well the client batched its writes, seen from the server. The CPU over a window is
// what the servers spent on the client's commands, replication included: on a machine whose cores
// the client shares with its servers, ops/s can be no more than cores / (client + server CPU per op).
func serverCounters(ctx context.Context, local *testcluster.Cluster) serverStats {
	var s serverStats
	for _, n := range local.Masters() {
		fields, err := n.Info(ctx, "stats")
		if err != nil {
			continue
		}
		s.cmds += parseInt(fields["total_commands_processed"])
		s.reads += parseInt(fields["total_reads_processed"])
	}
	s.cpu = cpuOf(ctx, local.Nodes())
	return s
}

// cpuOf sums the CPU seconds (user + system) the servers have used since they started.
func cpuOf(ctx context.Context, nodes []*testcluster.Node) float64 {
	var cpu float64
	for _, n := range nodes {
		fields, err := n.Info(ctx, "cpu")
		if err != nil {
			continue
		}
		cpu += parseFloat(fields["used_cpu_user"]) + parseFloat(fields["used_cpu_sys"])
	}
	return cpu
}

func parseInt(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}

func parseFloat(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}
