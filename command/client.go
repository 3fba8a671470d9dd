package command

import (
	"encoding/json"
	"io"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque"
	"github.com/urfave/cli/v2"
)

// clientFor builds a resque.Client from the global flags and environment, and checks
// that Redis answers.
func clientFor(c *cli.Context, env lookupFunc) (*resque.Client, *redis.Pool, error) {
	s, err := readGlobalSettings(source{env: env, flags: given(c)})
	if err != nil {
		return nil, nil, err
	}
	pool, display, err := newPool(s.Redis, 2)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRedis(c.Context, pool, display); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return resque.NewClient(pool, resque.ClientConfig{Namespace: s.Prefix, Dialect: s.Dialect}), pool, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
