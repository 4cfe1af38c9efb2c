package fakeredis

import (
	"fmt"
	"net"
	"strconv"
)

// Shard is a master for ShardsReply: its address ("host:port") and its slot ranges (none for a
// master serving no slot).
type Shard struct {
	Addr   string
	Ranges [][2]int
}

// ShardsReply is a CLUSTER SHARDS reply (RESP2) listing shards, each a master alone, online, with
// the id "n<port>".
func ShardsReply(shards ...Shard) string {
	reply := fmt.Sprintf("*%d\r\n", len(shards))
	for _, sh := range shards {
		host, portText, _ := net.SplitHostPort(sh.Addr)
		port, _ := strconv.Atoi(portText)
		node := fmt.Sprintf("*12\r\n$2\r\nid\r\n$%d\r\nn%d\r\n$4\r\nport\r\n:%d\r\n$2\r\nip\r\n$%d\r\n%s\r\n"+
			"$8\r\nendpoint\r\n$%d\r\n%s\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n",
			len(portText)+1, port, port, len(host), host, len(host), host)
		slots := fmt.Sprintf("*%d\r\n", 2*len(sh.Ranges))
		for _, r := range sh.Ranges {
			slots += fmt.Sprintf(":%d\r\n:%d\r\n", r[0], r[1])
		}
		reply += fmt.Sprintf("*4\r\n$5\r\nslots\r\n%s$5\r\nnodes\r\n*1\r\n%s", slots, node)
	}
	return reply
}
