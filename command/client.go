package command

import (
	"encoding/json"
	"io"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

// clientFor builds a resque.Client from the redis flags and environment.
func clientFor(c *cli.Context, env lookupFunc) (*resque.Client, *redis.Pool, error) {
	src := source{env: env, flags: given(c)}
	r, err := readRedisSettings(src)
	if err != nil {
		return nil, nil, err
	}
	prefix, _ := src.get("prefix", "PREFIX")
	if phpEmpty(prefix) {
		prefix = ""
	}
	d, _ := src.get("dialect", "GORESQUE_DIALECT")
	dialect, err := resque.ParseDialect(d)
	if err != nil {
		return nil, nil, badSetting("GORESQUE_DIALECT=%q: want php-resque-136 or php-resque-1", d)
	}
	pool, display, err := newPool(r, 2)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRedis(c.Context, pool, display); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return resque.NewClient(pool, prefix, dialect), pool, nil
}

// jsonFlag returns a fresh --json flag: urfave/cli writes into flags while parsing, so
// commands must not share one.
func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"} }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
