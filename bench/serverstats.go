package main

import (
	"context"
	"strconv"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// serverCounters sums, over the masters, the commands the servers processed and the reads from
// client sockets that brought them (INFO stats). Their ratio over a window is how many commands
// a server got per read: how well the client batched its writes, seen from the server.
func serverCounters(ctx context.Context, local *testcluster.Cluster) (cmds, reads int64) {
	for _, n := range local.Masters() {
		fields, err := n.Info(ctx, "stats")
		if err != nil {
			continue
		}
		c, _ := strconv.ParseInt(fields["total_commands_processed"], 10, 64)
		r, _ := strconv.ParseInt(fields["total_reads_processed"], 10, 64)
		cmds += c
		reads += r
	}
	return cmds, reads
}
