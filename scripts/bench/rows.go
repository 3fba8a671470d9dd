package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/goresque/goresque/resque"
)

// row is a system and what kind of row it is, for the ratios.
type row struct {
	system
	phpResque bool // the row the "× php-resque" column divides by
	oneSlot   bool // the row the "× 1 slot" column divides by
}

// goRows are Go handlers in the noopworker binary: the 1, 8 and 50 slots without
// the PHP bridge, 50 slots with default settings (the bridge on, APP_INCLUDE set, as a
// worker that also has PHP classes runs), and tracked variants.
func (b *bench) goRows(n int, tracked bool) []row {
	type cfg struct {
		what  string
		slots int
		track bool
		env   []string
	}
	off := "GORESQUE_PHP=off"
	cfgs := []cfg{
		{"1 slot, `GORESQUE_PHP=off`", 1, false, []string{off}},
		{"8 slots, `GORESQUE_PHP=off`", 8, false, []string{off}},
		{"50 slots, `GORESQUE_PHP=off`", 50, false, []string{off}},
		{"50 slots, default settings (bridge on)", 50, false, []string{"APP_INCLUDE=" + b.app}},
	}
	if tracked {
		cfgs = append(cfgs,
			cfg{"1 slot, `GORESQUE_PHP=off`, tracked", 1, true, []string{off}},
			cfg{"50 slots, `GORESQUE_PHP=off`, tracked", 50, true, []string{off}})
	}
	var rows []row
	for _, c := range cfgs {
		for i, bin := range b.noop {
			rows = append(rows, row{system: system{
				name: bin.label() + ", Go handler, " + c.what, jobs: n, class: "Bench_Noop", queues: []string{"bench"}, track: c.track,
				dialect: resque.DialectPHPResque136, argv: []string{bin.path, "work"},
				env: append([]string{"QUEUE=bench", "GORESQUE_CONCURRENCY=" + strconv.Itoa(c.slots)}, c.env...),
			}, oneSlot: c.slots == 1 && !c.track && i == 0})
		}
	}
	return rows
}

// phpRows run testdata/phpapp's Php_Noop class: real php-resque 1.x as its users run it
// (bin/resque, COUNT=2, a child forked per job), then goresque's bridge with 2 slots.
func (b *bench) phpRows(n, slow int) []row {
	var rows []row
	if b.phpBin != "" {
		rows = append(rows, row{system: system{
			name: "php-resque 1.x, `COUNT=2` (fork per job)", jobs: slow, class: "Php_Noop", queues: []string{"bench"},
			dialect: resque.DialectPHPResque1,
			argv:    []string{"php", "-d", "error_reporting=22527", filepath.Join(b.root, "scripts", "bench-php", "resque.php"), b.phpBin},
			env:     []string{"QUEUE=bench", "COUNT=2", "INTERVAL=0.1", "APP_INCLUDE=" + b.app},
		}, phpResque: true})
	}
	for _, m := range []struct{ name, iso string }{
		{"pool without isolation", "none"},
		{"pool with fork isolation (default)", "fork"},
	} {
		for _, bin := range b.goresque {
			rows = append(rows, b.phpRow(bin, m.name, m.iso, n))
		}
	}
	return rows
}

// phpRow is goresque's bridge running Php_Noop with 2 slots and the given isolation.
func (b *bench) phpRow(bin binary, what, isolation string, n int) row {
	return row{system: system{
		name: bin.label() + ", PHP class, " + what + ", 2 slots", jobs: n, class: "Php_Noop", queues: []string{"bench"},
		dialect: resque.DialectPHPResque1, argv: []string{bin.path, "work"},
		env: []string{"QUEUE=bench", "INTERVAL=0.1", "APP_INCLUDE=" + b.app, "GORESQUE_CONCURRENCY=2",
			"GORESQUE_PHP=pool", "GORESQUE_PHP_ISOLATION=" + isolation, "GORESQUE_DIALECT=php-resque-1"},
	}}
}

// runTable runs every row over every transport, round-major (round 1 of every row, then
// round 2, ...) so that drift on a shared machine hits every row alike, and prints one
// table.
func (b *bench) runTable(rows []row, transports []string, rounds int) {
	res := make([][][]result, len(transports))
	for t := range transports {
		res[t] = make([][]result, len(rows))
	}
	for r := range rounds {
		for t, tp := range transports {
			for i, rw := range rows {
				x, err := b.drain(rw.system, tp)
				if err != nil {
					fail(fmt.Errorf("%s over %s, round %d: %w", rw.name, tp, r+1, err))
				}
				res[t][i] = append(res[t][i], x)
			}
		}
	}
	fmt.Printf("\nDrain a pre-filled queue (Go rows %s jobs, Resque::enqueue's bytes with an id, untracked unless said)\n\n",
		thousands(float64(firstJobs(rows))))
	fmt.Println("| system | Redis via | jobs/s | × php-resque | × 1 slot | worker CPU µs/job | Redis CPU µs/job | Redis calls/job | scripts/job | RSS MB | Redis calls per job, by command |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for t, tp := range transports {
		meds := make([]result, len(rows))
		var php, one float64
		for i, rw := range rows {
			meds[i] = medianResult(res[t][i])
			if rw.phpResque {
				php = meds[i].rate
			}
			if rw.oneSlot {
				one = meds[i].rate
			}
		}
		for i, rw := range rows {
			m := meds[i]
			name := rw.name
			if m.capped {
				name += fmt.Sprintf(" (%d of %d jobs in %v)", m.jobs, rw.jobs, b.maxRound)
			}
			vsOne := "–"
			if rw.class == "Bench_Noop" {
				vsOne = ratio(m.rate, one)
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %.1f | %.2f | %.1f | %s |\n", name, tp, thousands(m.rate),
				ratio(m.rate, php), vsOne, thousands(m.cpuUS), thousands(m.redisUS), m.calls, m.scripts,
				float64(m.rss)/(1<<20), m.perCmd)
		}
	}
}

func firstJobs(rows []row) int {
	for _, r := range rows {
		if r.class == "Bench_Noop" {
			return r.jobs
		}
	}
	if len(rows) > 0 {
		return rows[0].jobs
	}
	return 0
}

// medianResult takes each numeric column's own median; the text columns come from the
// round with the median rate.
func medianResult(rs []result) result {
	s := append([]result(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].rate < s[j].rate })
	m := s[len(s)/2]
	col := func(f func(result) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	m.rate = col(func(r result) float64 { return r.rate })
	m.cpuUS = col(func(r result) float64 { return r.cpuUS })
	m.redisUS = col(func(r result) float64 { return r.redisUS })
	m.calls = col(func(r result) float64 { return r.calls })
	m.scripts = col(func(r result) float64 { return r.scripts })
	m.rss = int64(col(func(r result) float64 { return float64(r.rss) }))
	m.idleRedisMS = col(func(r result) float64 { return r.idleRedisMS })
	m.idleCallsSec = col(func(r result) float64 { return r.idleCallsSec })
	m.idlePollUS = col(func(r result) float64 { return r.idlePollUS })
	m.p50 = col(func(r result) float64 { return r.p50 })
	m.p99 = col(func(r result) float64 { return r.p99 })
	m.jobs = int(col(func(r result) float64 { return float64(r.jobs) }))
	// A round ended by -max-round still gives a rate (its jobs over its time); the row
	// says so when most rounds did not empty the queue.
	capped := 0
	for _, r := range rs {
		if r.capped {
			capped++
		}
	}
	m.capped = capped > len(rs)/2
	return m
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(x, base float64) string {
	if base == 0 {
		return "–"
	}
	r := x / base
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0fx", r)
	case r >= 10:
		return fmt.Sprintf("%.1fx", r)
	default:
		return fmt.Sprintf("%.2fx", r)
	}
}

// thousands formats x rounded, with commas: 14922 → "14,922"; below 10 with one decimal.
func thousands(x float64) string {
	if x < 10 {
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(x+0.5), 10)
	var out strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out.WriteByte(',')
		}
		out.WriteRune(c)
	}
	return out.String()
}
