package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/goresque/goresque/resque"
)

// wildcardTable: QUEUE=* over many queue names, Go handler. The jobs are spread over the
// last 4 queues in sort order (goresque takes QUEUE=* sorted, so every claim passes the
// empty ones first); every other name is an empty queue, as php-resque leaves a drained
// queue's name in the queues set. After the drain, with every queue empty, Redis is
// measured for -idle: the cost of the worker's idle polls (INTERVAL=0.1).
func (b *bench) wildcardTable(transports []string, rounds, n, queues int, slots []int, idle time.Duration) {
	full := []string{"zjobs1", "zjobs2", "zjobs3", "zjobs4"}
	var rows []system
	for _, k := range slots {
		for _, bin := range b.noop {
			name := plural(k, "slot")
			if bin.name != "" {
				name = bin.label() + ", " + name
			}
			rows = append(rows, system{
				name: name, jobs: n, class: "Bench_Noop", queues: full, names: max(queues, len(full)),
				dialect: resque.DialectPHPResque136, argv: []string{bin.path, "work"}, idle: idle,
				env: []string{"QUEUE=*", "INTERVAL=0.1", "GORESQUE_PHP=off", "GORESQUE_CONCURRENCY=" + strconv.Itoa(k)},
			})
		}
	}
	res := make(map[string][]result)
	for r := range rounds {
		for _, tp := range transports {
			for _, s := range rows {
				x, err := b.drain(s, tp)
				if err != nil {
					fail(fmt.Errorf("wildcard %s over %s, round %d: %w", s.name, tp, r+1, err))
				}
				res[tp+s.name] = append(res[tp+s.name], x)
			}
		}
	}
	fmt.Printf("\n`QUEUE=*` with %s queues: %s jobs in the last 4 in sort order, the rest empty; Go handler, `GORESQUE_PHP=off`; idle: every queue empty, `INTERVAL=0.1`, %v\n\n",
		thousands(float64(max(queues, len(full)))), thousands(float64(n)), idle)
	fmt.Println("| worker | Redis via | jobs/s | worker CPU µs/job | Redis CPU µs/job | Redis calls/job | idle: Redis CPU ms/s | idle: Redis CPU µs per script call | idle: calls/s | Redis calls per job, by command | idle: calls by command |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
	for _, tp := range transports {
		for _, s := range rows {
			m := medianResult(res[tp+s.name])
			name := s.name
			if m.capped {
				name += fmt.Sprintf(" (%d of %d jobs in %v)", m.jobs, s.jobs, b.maxRound)
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %s | %s |\n", name, tp, thousands(m.rate), thousands(m.cpuUS),
				thousands(m.redisUS), m.calls, m.idleRedisMS, thousands(m.idlePollUS), thousands(m.idleCallsSec), m.perCmd, m.idlePerCmd)
		}
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
