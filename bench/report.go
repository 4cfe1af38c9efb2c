package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

type results struct {
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	CPUs      int    `json:"cpus"`
	// GOMAXPROCS may differ from CPUs under a container's CPU limit; 0 in results older than it.
	GOMAXPROCS int                `json:"gomaxprocs,omitempty"`
	Warmup     string             `json:"warmup"`
	Window     string             `json:"window"`
	Keys       int                `json:"keys"`
	Runs       int                `json:"runs"` // how many times the matrix ran; cells carry their run
	Ceiling    map[string]float64 `json:"server_ceiling_ops_per_sec,omitempty"`
	Cells      []cell             `json:"cells"`
}

type cell struct {
	Op          string  `json:"op"`
	Concurrency int     `json:"concurrency"`
	Size        int     `json:"value_bytes"`
	Client      string  `json:"client"`
	Run         int     `json:"run"`
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	P999us      float64 `json:"p999_us"`
	CPUusPerOp  float64 `json:"cpu_us_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	CmdsPerRead float64 `json:"server_cmds_per_read"` // commands per socket read on the masters
	// ServerCPUusPerOp is the CPU all six servers used over the window, per operation of the client.
	ServerCPUusPerOp float64 `json:"server_cpu_us_per_op,omitempty"`
}

func writeJSON(r results) []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

// runsOf returns a client's cells of one operation, size and concurrency, one per run, in run order.
func (r results) runsOf(op string, size, conc int, client string) []cell {
	var out []cell
	for _, c := range r.Cells {
		if c.Op == op && c.Size == size && c.Concurrency == conc && c.Client == client {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Run < out[j].Run })
	return out
}

// lookup returns a client's cell with every figure the median over the runs; ok is false when it
// was not run.
func (r results) lookup(op string, size, conc int, client string) (cell, bool) {
	runs := r.runsOf(op, size, conc, client)
	if len(runs) == 0 {
		return cell{}, false
	}
	med := runs[0]
	med.Run = 0
	pick := func(f func(cell) float64) float64 {
		vs := make([]float64, len(runs))
		for i, c := range runs {
			vs[i] = f(c)
		}
		return median(vs)
	}
	// pickOptional is pick for a figure a run may lack (0): the median of the runs that have it.
	pickOptional := func(f func(cell) float64) float64 {
		var vs []float64
		for _, c := range runs {
			if v := f(c); v != 0 {
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			return 0
		}
		return median(vs)
	}
	med.OpsPerSec = pick(func(c cell) float64 { return c.OpsPerSec })
	med.P50us = pick(func(c cell) float64 { return c.P50us })
	med.P99us = pick(func(c cell) float64 { return c.P99us })
	med.P999us = pick(func(c cell) float64 { return c.P999us })
	med.CPUusPerOp = pick(func(c cell) float64 { return c.CPUusPerOp })
	med.AllocsPerOp = pick(func(c cell) float64 { return c.AllocsPerOp })
	med.CmdsPerRead = pickOptional(func(c cell) float64 { return c.CmdsPerRead })
	med.ServerCPUusPerOp = pickOptional(func(c cell) float64 { return c.ServerCPUusPerOp })
	med.Ops, med.Errors = 0, 0
	for _, c := range runs {
		med.Ops += c.Ops
		med.Errors += c.Errors
	}
	return med, true
}

// ratios returns f(actoredis, other) for each run in which both clients ran the cell: each ratio
// compares two clients measured side by side, seconds apart.
func (r results) ratios(op string, size, conc int, other string, f func(a, o cell) float64) []float64 {
	as, os := r.runsOf(op, size, conc, "actoredis"), r.runsOf(op, size, conc, other)
	var out []float64
	for _, a := range as {
		for _, o := range os {
			if o.Run == a.Run {
				out = append(out, f(a, o))
			}
		}
	}
	return out
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fmtRatios prints the median of per-run ratios, with the range when there are several runs.
func fmtRatios(vs []float64) string {
	if len(vs) == 0 {
		return "—"
	}
	if len(vs) == 1 {
		return fmt.Sprintf("%.2f", vs[0])
	}
	lo, hi := slices.Min(vs), slices.Max(vs)
	return fmt.Sprintf("%.2f (%.2f–%.2f)", median(vs), lo, hi)
}

func (r results) axes() (ops []string, sizes, concs []int) {
	seenOp, seenSize, seenConc := map[string]bool{}, map[int]bool{}, map[int]bool{}
	for _, c := range r.Cells {
		if !seenOp[c.Op] {
			seenOp[c.Op] = true
			ops = append(ops, c.Op)
		}
		if !seenSize[c.Size] {
			seenSize[c.Size] = true
			sizes = append(sizes, c.Size)
		}
		if !seenConc[c.Concurrency] {
			seenConc[c.Concurrency] = true
			concs = append(concs, c.Concurrency)
		}
	}
	sort.Ints(sizes)
	sort.Ints(concs)
	return ops, sizes, concs
}

func writeMarkdown(r results) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# actoredis vs rueidis vs go-redis\n\n")
	runs := max(r.Runs, 1)
	procs := ""
	if r.GOMAXPROCS > 0 {
		procs = fmt.Sprintf(" (GOMAXPROCS %d)", r.GOMAXPROCS)
	}
	fmt.Fprintf(&b, "Run %s, %s, %d CPUs%s; local Redis Cluster of 3 masters × 1 replica (redis-server on the same machine); "+
		"%d keys; warm-up %s then %s per client and cell; clients in rotating order; the whole matrix %d time(s). "+
		"Figures are medians over the runs; a ratio is the median of the ratios measured side by side within each "+
		"run, with their range in brackets. CPU µs/op is the bench process's (user + system); server cmds/read is the "+
		"commands a master got per socket read; server CPU µs/op is what the six servers used over the window "+
		"(replication, idle work and the harness's INFO calls included) per operation of the client. With clients "+
		"and servers on the same %d cores, ops/s can be no more than %d × 10⁶ / (CPU µs/op + server CPU µs/op). "+
		"Every client runs with its defaults (rueidis: auto-pipelining with no MaxFlushDelay; go-redis: ClusterClient), "+
		"one command per operation, a cancellable context; the bench loop's own work (two clock reads, a random number "+
		"and a histogram update per operation) is in every client's CPU µs/op. A percentile is the upper edge of its "+
		"histogram bucket (at most 6.25%% above the true value); failed commands count as errors only (the errors column sums the runs).\n\n",
		r.Date, r.GoVersion, r.CPUs, procs, r.Keys, r.Warmup, r.Window, runs, r.CPUs, r.CPUs)
	ops, sizes, concs := r.axes()
	if len(r.Ceiling) > 0 {
		b.WriteString("Reference: `redis-benchmark --cluster -P 16 -r 100000 --threads 2` on the same cluster, before the " +
			"clients ran. It is a client too, sharing the 2 cores with the servers, so it marks what the servers " +
			"sustain with deep pipelines here, not a hard ceiling:")
		for _, size := range sizes {
			fmt.Fprintf(&b, " %d B values: SET %.0f/s, GET %.0f/s;", size,
				r.Ceiling[ceilingKey("SET", size)], r.Ceiling[ceilingKey("GET", size)])
		}
		b.WriteString("\n\n")
	}
	writeTargets(&b, r)
	for _, size := range sizes {
		for _, op := range ops {
			fmt.Fprintf(&b, "## %s, %d B values\n\n", op, size)
			fmt.Fprintf(&b, "| conc | client | ops/s | p50 µs | p99 µs | p99.9 µs | CPU µs/op | allocs/op | server cmds/read | server CPU µs/op | errors |\n")
			fmt.Fprintf(&b, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
			for _, conc := range concs {
				for _, name := range clientNames {
					c, ok := r.lookup(op, size, conc, name)
					if !ok {
						continue
					}
					fmt.Fprintf(&b, "| %d | %s | %.0f | %.1f | %.1f | %.1f | %.2f | %.1f | %s | %s | %d |\n",
						conc, name, c.OpsPerSec, c.P50us, c.P99us, c.P999us, c.CPUusPerOp, c.AllocsPerOp,
						fmtOptional(c.CmdsPerRead, 1), fmtOptional(c.ServerCPUusPerOp, 2), c.Errors)
				}
			}
			fmt.Fprintf(&b, "\n| conc | actoredis/rueidis ops/s | actoredis/go-redis ops/s | p99 actoredis/rueidis | CPU/op actoredis/rueidis |\n")
			fmt.Fprintf(&b, "|---:|---:|---:|---:|---:|\n")
			for _, conc := range concs {
				fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", conc,
					fmtRatios(r.ratios(op, size, conc, "rueidis", opsRatio)),
					fmtRatios(r.ratios(op, size, conc, "go-redis", opsRatio)),
					fmtRatios(r.ratios(op, size, conc, "rueidis", p99Ratio)),
					fmtRatios(r.ratios(op, size, conc, "rueidis", cpuRatio)))
			}
			b.WriteString("\n")
			writeCeilingShare(&b, r, op, size, concs)
		}
	}
	return []byte(b.String())
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func opsRatio(a, o cell) float64 { return ratio(a.OpsPerSec, o.OpsPerSec) }
func p99Ratio(a, o cell) float64 { return ratio(a.P99us, o.P99us) }
func cpuRatio(a, o cell) float64 { return ratio(a.CPUusPerOp, o.CPUusPerOp) }

var clientColors = map[string]string{"actoredis": "#d62728", "rueidis": "#1f77b4", "go-redis": "#2ca02c", sendClient: "#ff9896", backgroundClient: "#9467bd", hookedClient: "#8c564b", flushDelayClient: "#aec7e8"}

// writeSVG draws throughput against concurrency (log scale), one panel per operation at the
// smallest value size, one line per client.
func writeSVG(r results) []byte {
	ops, sizes, concs := r.axes()
	if len(sizes) == 0 || len(concs) == 0 {
		return []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)
	}
	size := sizes[0]
	const pw, ph, left, top, gap = 360, 260, 70, 40, 40
	width := left + len(ops)*(pw+gap)
	height := top + ph + 70
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for pi, op := range ops {
		x0 := left + pi*(pw+gap)
		maxOps := 1.0
		for _, c := range r.Cells {
			if c.Op == op && c.Size == size {
				maxOps = math.Max(maxOps, c.OpsPerSec)
			}
		}
		maxOps *= 1.1
		xAt := func(i int) float64 {
			if len(concs) == 1 {
				return float64(x0) + pw/2
			}
			return float64(x0) + float64(i)*pw/float64(len(concs)-1)
		}
		yAt := func(v float64) float64 { return float64(top+ph) - v/maxOps*ph }
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s, %d B values: ops/s vs concurrency</text>`+"\n", x0, top-15, op, size)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, top+ph, x0+pw, top+ph)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", x0, top, x0, top+ph)
		for t := 0; t <= 4; t++ {
			v := maxOps * float64(t) / 4
			fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%.0fk</text>`+"\n", x0-5, yAt(v)+4, v/1000)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#ddd"/>`+"\n", x0, yAt(v), x0+pw, yAt(v))
		}
		for i, conc := range concs {
			fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">%d</text>`+"\n", xAt(i), top+ph+15, conc)
		}
		for _, name := range clientNames {
			var pts []string
			for i, conc := range concs {
				if c, ok := r.lookup(op, size, conc, name); ok {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", xAt(i), yAt(c.OpsPerSec)))
					fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", xAt(i), yAt(c.OpsPerSec), clientColors[name])
				}
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", clientColors[name], strings.Join(pts, " "))
		}
	}
	for i, name := range clientNames {
		x := left + i*140
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x, height-25, clientColors[name], x+18, height-15, name)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// writeCeilingShare says how close each client's best concurrency came to redis-benchmark's figure
// for this operation and value size: a client near 100% is near what the servers sustain here.
func writeCeilingShare(b *strings.Builder, r results, op string, size int, concs []int) {
	ceiling, ok := r.Ceiling[ceilingKey(op, size)]
	if !ok || ceiling == 0 {
		return
	}
	fmt.Fprintf(b, "Best median ops/s as a share of the redis-benchmark reference (%.0f/s):", ceiling)
	for _, name := range clientNames {
		best, at := 0.0, 0
		for _, conc := range concs {
			if c, ok := r.lookup(op, size, conc, name); ok && c.OpsPerSec > best {
				best, at = c.OpsPerSec, conc
			}
		}
		if at > 0 {
			fmt.Fprintf(b, " %s %.0f%% (c=%d);", name, 100*best/ceiling, at)
		}
	}
	b.WriteString("\n\n")
}

// fmtOptional prints a figure an older results.json may lack as "—".
func fmtOptional(v float64, decimals int) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf("%.*f", decimals, v)
}
