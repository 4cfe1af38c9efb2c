package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// serverCounters sums, over the masters, the commands the servers processed and the reads from
// client sockets that brought them (INFO stats). Their ratio over a window is how many commands
// a server got per read: how well the client batched its writes, seen from the server.
func serverCounters(ctx context.Context, local *testcluster.Cluster) (cmds, reads int64) {
	for _, n := range local.Masters() {
		v, err := n.Do(ctx, "INFO", "stats")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(fmt.Sprint(v), "\r\n") {
			k, val, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			x, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "total_commands_processed":
				cmds += x
			case "total_reads_processed":
				reads += x
			}
		}
	}
	return cmds, reads
}
