package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/measure"
)

// monitor counts the commands clients send, as MONITOR shows them, leaving out those a
// script runs ("[0 lua]"): the round trips, which INFO commandstats cannot tell from a
// script's inner calls. MONITOR costs Redis CPU, so a round that uses it reports only this.
type monitor struct {
	conn   redis.Conn
	counts map[string]int64
	done   chan struct{}
	err    error
}

const monitorEnd = "bench-monitor-end"

func (b *bench) startMonitor() (*monitor, error) {
	c, err := b.srv.Dial() // not counted: it sends nothing but MONITOR
	if err != nil {
		return nil, err
	}
	if _, err := c.Do("MONITOR"); err != nil {
		c.Close()
		return nil, fmt.Errorf("MONITOR: %w", err)
	}
	m := &monitor{conn: c, counts: map[string]int64{}, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			line, err := redis.String(c.Receive())
			if err != nil {
				m.err = err
				return
			}
			// 1700000000.123456 [0 127.0.0.1:5678] "evalsha" "..." ...
			open, rest, ok := strings.Cut(line, "] \"")
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(rest, "\"")
			name = strings.ToLower(name)
			if name == "echo" && strings.Contains(rest, monitorEnd) {
				m.counts[name]++
				return
			}
			if !strings.HasSuffix(open, " lua") {
				m.counts[name]++
			}
		}
	}()
	return m, nil
}

// stop ends the count after every command sent before it (an ECHO marker on conn, whose
// commands the counter counts) and returns the counts.
func (m *monitor) stop(conn redis.Conn) (map[string]int64, error) {
	defer m.conn.Close()
	if _, err := conn.Do("ECHO", monitorEnd); err != nil {
		return nil, err
	}
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("MONITOR: no end marker in 10 s")
	}
	if m.err != nil {
		return nil, fmt.Errorf("MONITOR: %w", m.err)
	}
	return m.counts, nil
}

// clientCalls is MONITOR's counts less the benchmark's own commands and INFO.
func clientCalls(seen, own map[string]int64) measure.Delta {
	d := measure.Delta{Calls: map[string]int64{}}
	for k, v := range seen {
		if k == "info" {
			continue
		}
		if n := v - own[k]; n != 0 {
			d.Calls[k] = n
		}
	}
	return d
}
