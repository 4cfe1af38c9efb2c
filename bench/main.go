// Command bench runs actoredis, rueidis and go-redis side by side against the same local Redis
// Cluster (3 masters × 1 replica, real redis-server processes) and writes a markdown table, a JSON
// file and an SVG chart.
//
//	go run . -quick          # a 1–2 minute subset (make bench-quick)
//	go run .                 # the full matrix (make bench)
//
// Each cell — operation × concurrency × value size — runs every client in turn (the order rotates
// from cell to cell and, for one cell, from run to run), each for a warm-up and then a measured
// window. Per client and cell: ops/s, p50/p99/p99.9 latency, client CPU per operation (getrusage of
// this process: the servers are other processes), allocations per operation, commands per server
// read on the masters, the six servers' CPU per operation (INFO cpu), errors.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

const numKeys = 100_000

type config struct {
	ops    []string
	concs  []int
	sizes  []int
	warm   time.Duration
	dur    time.Duration
	repeat int // the whole matrix runs this many times; the report gives medians
	// counters reads the servers' counters (see servers.counters).
	counters func(context.Context) serverStats
	outDir   string
}

func main() {
	quick := flag.Bool("quick", false, "run the 1–2 minute subset")
	dur := flag.Duration("d", 0, "measured window per client and cell (default 3s, quick 2s)")
	out := flag.String("out", "../docs/bench", "directory for results.md, results.json and throughput.svg")
	ops := flag.String("ops", "", "comma-separated operations to run instead of the default (GET,SET,MIX80)")
	concs := flag.String("c", "", "comma-separated concurrencies to run instead of the default")
	only := flag.String("clients", "", "comma-separated clients to run (default "+strings.Join(clientNames, ",")+
		"; also "+strings.Join(optInClients, ", ")+")")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	repeat := flag.Int("repeat", 1, "run the matrix this many times and report medians")
	sizes := flag.String("s", "", "comma-separated value sizes in bytes to run instead of the default (16,1024)")
	rerender := flag.String("report", "", "run nothing: rewrite the markdown and SVG of -out from this results.json")
	flag.Parse()
	if *rerender != "" {
		if err := renderFrom(*rerender, *out); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	cfg := config{
		ops: []string{"GET", "SET", "MIX80"}, concs: []int{1, 16, 256, 1024, 4096}, sizes: []int{16, 1024},
		warm: time.Second, dur: 3 * time.Second, outDir: *out,
	}
	if *quick {
		cfg = config{ops: []string{"GET", "SET"}, concs: []int{16, 1024}, sizes: []int{16},
			warm: 500 * time.Millisecond, dur: 2 * time.Second, outDir: *out}
	}
	if *dur > 0 {
		cfg.dur = *dur
	}
	cfg.repeat = max(*repeat, 1)
	if *ops != "" {
		cfg.ops = strings.Split(*ops, ",")
	}
	if *concs != "" {
		cfg.concs = intList("-c", *concs)
	}
	if *sizes != "" {
		cfg.sizes = intList("-s", *sizes)
	}
	if *only != "" {
		clientNames = strings.Split(*only, ",")
	}
	if err := run(cfg); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// clientOrder is the order in which the clients run the cell-th cell of a run. It rotates from
// cell to cell and from run to run, so that over as many runs as there are clients every client
// takes every place in every cell: whatever running first or last costs is spread evenly.
func clientOrder(names []string, cell, run int) []string {
	order := make([]string, len(names))
	for k := range names {
		order[k] = names[(cell+run+k)%len(names)]
	}
	return order
}

// intList parses a comma-separated list of integers given to flag, or exits.
func intList(flag, list string) []int {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: %s: %q is not a positive integer\n", flag, f)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

func run(cfg config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fmt.Println("starting a local 3×1 cluster...")
	local, err := testcluster.Start(ctx, testcluster.Options{})
	if err != nil {
		return err
	}
	defer local.Stop()
	addrs := local.Addrs()[:3]

	clients := map[string]client{}
	for _, name := range clientNames {
		c, err := newClient(ctx, name, addrs)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer c.close()
		clients[name] = c
	}
	loader, ok := clients["actoredis"]
	if !ok { // -clients left it out: a client of its own fills the keys
		if loader, err = newClient(ctx, "actoredis", addrs); err != nil {
			return fmt.Errorf("actoredis: %w", err)
		}
		defer loader.close()
	}
	values := map[int][]byte{}
	for _, size := range cfg.sizes {
		values[size] = bytes.Repeat([]byte("v"), size)
		if err := prefill(ctx, loader.(actoredisClient).c, size, numKeys, values[size]); err != nil {
			return err
		}
	}
	res := results{
		Date: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Warmup:     cfg.warm.String(), Window: cfg.dur.String(), Keys: numKeys, Runs: cfg.repeat,
		Ceiling: map[string]float64{},
	}
	for _, size := range cfg.sizes {
		for op, v := range serverCeiling(local.Addrs()[0], size) {
			res.Ceiling[ceilingKey(op, size)] = v
		}
	}
	cfg.counters = serversOf(local).counters
	for run := 1; run <= cfg.repeat; run++ {
		cell := 0
		for _, size := range cfg.sizes {
			for _, op := range cfg.ops {
				for _, conc := range cfg.concs {
					for _, name := range clientOrder(clientNames, cell, run) {
						c := measure(ctx, clients[name], op, conc, size, values[size], cfg)
						c.Client, c.Run = name, run
						res.Cells = append(res.Cells, c)
						fmt.Printf("run %d %-5s %5d B c=%-5d %-9s %9.0f ops/s  p50 %7.1f µs  p99 %8.1f µs  cpu %5.2f µs/op  %5.1f allocs/op  %5.1f cmds/read  server cpu %5.2f µs/op  errors %d\n",
							run, op, size, conc, name, c.OpsPerSec, c.P50us, c.P99us, c.CPUusPerOp, c.AllocsPerOp, c.CmdsPerRead, c.ServerCPUusPerOp, c.Errors)
					}
					cell++
				}
			}
		}
	}
	return writeAll(res, cfg.outDir, true)
}

// writeAll writes the markdown, the SVG and, with withJSON, the raw results to dir.
func writeAll(res results, dir string, withJSON bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]func(results) []byte{"results.md": writeMarkdown, "throughput.svg": writeSVG}
	if withJSON {
		files["results.json"] = writeJSON
	}
	for name, write := range files {
		if err := os.WriteFile(filepath.Join(dir, name), write(res), 0o644); err != nil {
			return err
		}
	}
	fmt.Println("wrote", dir)
	return nil
}

// renderFrom rewrites the report of a finished run from its results.json.
func renderFrom(jsonPath, dir string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	return writeAll(res, dir, false)
}

func keyOf(size, i int) string { return "b" + strconv.Itoa(size) + ":" + strconv.Itoa(i) }

// prefill stores n keys of the given value size, 10k futures in flight at a time.
func prefill(ctx context.Context, c *api.Cluster, size, n int, value []byte) error {
	const batch = 10_000
	for start := 0; start < n; start += batch {
		fs := make([]*api.Future, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			fs = append(fs, c.Send(api.Cmd("SET", keyOf(size, i), value)))
		}
		for _, f := range fs {
			if _, err := f.AwaitContext(ctx); err != nil {
				return fmt.Errorf("prefill: %w", err)
			}
		}
	}
	return nil
}

// measure runs one client in one cell: conc workers, a warm-up, then the measured window.
func measure(ctx context.Context, c client, op string, conc, size int, value []byte, cfg config) cell {
	keys := make([]string, numKeys)
	for i := range keys {
		keys[i] = keyOf(size, i)
	}
	// The garbage of the client before is collected now, not in this one's window.
	runtime.GC()
	var phase atomic.Int32 // 0 warm-up, 1 measuring, 2 stop
	var ops, errs atomic.Int64
	hists := make([]*histogram, conc)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		hists[w] = &histogram{}
		wg.Add(1)
		go func(h *histogram, seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 42))
			var n, bad int64
			for {
				p := phase.Load()
				if p == 2 {
					break
				}
				key := keys[rng.IntN(numKeys)]
				write := op == "SET" || (op == "MIX80" && rng.IntN(5) == 0)
				start := time.Now()
				var err error
				if write {
					err = c.set(ctx, key, value)
				} else {
					var got []byte
					got, err = c.get(ctx, key)
					if err == nil && !bytes.Equal(got, value) {
						err = fmt.Errorf("wrong value")
					}
				}
				if p == 1 { // a failed command counts as an error, not as throughput or latency
					if err != nil {
						bad++
					} else {
						h.record(time.Since(start))
						n++
					}
				}
			}
			ops.Add(n)
			errs.Add(bad)
		}(hists[w], uint64(w)+1)
	}
	time.Sleep(cfg.warm) // the warm-up is a span of time, not a synchronisation
	srv0 := cfg.counters(ctx)
	cpu0, mallocs0 := cpuTime(), mallocs()
	t0 := time.Now()
	phase.Store(1)
	time.Sleep(cfg.dur)
	phase.Store(2)
	elapsed := time.Since(t0)
	cpu1, mallocs1 := cpuTime(), mallocs()
	srv1 := cfg.counters(ctx) // outside the client's CPU window: the INFO calls are the harness's
	wg.Wait()
	total := &histogram{}
	for _, h := range hists {
		total.merge(h)
	}
	n := float64(max(ops.Load(), 1))
	return cell{
		Op: op, Concurrency: conc, Size: size,
		Ops: ops.Load(), Errors: errs.Load(), OpsPerSec: float64(ops.Load()) / elapsed.Seconds(),
		P50us: us(total.quantile(0.50)), P99us: us(total.quantile(0.99)), P999us: us(total.quantile(0.999)),
		CPUusPerOp: float64((cpu1 - cpu0).Microseconds()) / n, AllocsPerOp: float64(mallocs1-mallocs0) / n,
		CmdsPerRead:      cmdsPerRead(srv0, srv1),
		ServerCPUusPerOp: serverCPUusPerOp(srv0, srv1, ops.Load()),
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}
