package main

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// serverCeiling runs redis-benchmark --cluster -P 16 against the cluster with values of the given
// size: what the servers sustain with deep pipelines. redis-benchmark shares the cores with the
// servers and the clients, so a client can pass it: a reference, not a hard ceiling. Empty when
// redis-benchmark is missing.
func serverCeiling(addr string, size int) map[string]float64 {
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		return nil
	}
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--cluster", "-h", host, "-p", port, "-t", "get,set",
		"-P", "16", "-r", "100000", "-d", strconv.Itoa(size), "--threads", "2", "-n", "1000000", "-q").Output()
	if err != nil {
		return nil
	}
	res := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "SET: 452488.69 requests per second, p50=..." (lines may carry carriage returns)
		line := sc.Text()
		if i := strings.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		name, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				res[name] = v
			}
		}
	}
	return res
}

func ceilingKey(op string, size int) string { return op + " " + strconv.Itoa(size) + " B" }
