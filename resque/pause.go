package resque

import (
	"context"
	"fmt"
	"strings"

	"github.com/gomodule/redigo/redis"
)

// Pause makes every worker stop taking jobs, as Ruby resque's pause-all-workers key does
// (Resque::Worker#paused? reads it before each reservation): Ruby workers honour it, and so
// do goresque workers. Jobs already running finish. php-resque workers do not know the key.
func (c *Client) Pause(ctx context.Context) error {
	return c.doPause(ctx, "SET", c.keys.PauseAllWorkers(), "true")
}

// Resume lets the workers take jobs again: it deletes pause-all-workers.
func (c *Client) Resume(ctx context.Context) error {
	return c.doPause(ctx, "DEL", c.keys.PauseAllWorkers())
}

// Paused reports whether pause-all-workers is set, read as Ruby does: the value, trimmed
// and lower-cased, is "true".
func (c *Client) Paused(ctx context.Context) (bool, error) {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return false, fmt.Errorf("resque: paused: %w", err)
	}
	defer conn.Close()
	v, err := redis.String(conn.Do("GET", c.keys.PauseAllWorkers()))
	if err == redis.ErrNil {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("resque: paused: %w", err)
	}
	return strings.ToLower(strings.TrimSpace(v)) == "true", nil
}

func (c *Client) doPause(ctx context.Context, cmd string, args ...any) error {
	conn, err := c.pool.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("resque: %s pause-all-workers: %w", strings.ToLower(cmd), err)
	}
	defer conn.Close()
	if _, err := conn.Do(cmd, args...); err != nil {
		return fmt.Errorf("resque: %s pause-all-workers: %w", strings.ToLower(cmd), err)
	}
	return nil
}
