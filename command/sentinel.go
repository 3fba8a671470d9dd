package command

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/resque/sentinel"
	"github.com/rs/zerolog"
)

// haSettings are the high-availability settings: Sentinel's own password and the
// replication acknowledgement goresque waits for after its writes.
type haSettings struct {
	SentinelPassword string         // REDIS_SENTINEL_PASSWORD or the file REDIS_SENTINEL_PASSWORD_FILE
	WaitReplicas     int            // GORESQUE_REDIS_WAIT_REPLICAS: WAIT n after each write; 0: off
	WaitTimeout      time.Duration  // GORESQUE_REDIS_WAIT_TIMEOUT; default 2s
	Logger           zerolog.Logger // receives the failover lines; set by commands that log
}

// parseSentinelBackend reads sentinel://[user:pass@]host1:26379,host2:26379/MASTER[/db]:
// the sentinels to ask, the master's name, and the master's credentials and database
// (REDIS_SENTINEL_PASSWORD is the sentinels' own password). url.Parse does not take a
// list of hosts, so the URL is cut by hand.
func parseSentinelBackend(b string, t target) (target, error) {
	rest := strings.TrimPrefix(b, "sentinel://")
	hosts, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		user, pass, hasPass := strings.Cut(hosts[:at], ":")
		hosts = hosts[at+1:]
		if hasPass {
			t.username, t.password = user, pass
		} else if user != "" {
			t.password = user // a lone user part is the password, as in redis:// URLs
		}
	}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			host, port = h, "26379"
		}
		if _, err := strconv.Atoi(port); err != nil || host == "" {
			return t, badSetting("REDIS_BACKEND: sentinel address %q: want host:port", h)
		}
		t.sentinels = append(t.sentinels, net.JoinHostPort(host, port))
	}
	if len(t.sentinels) == 0 {
		return t, badSetting("REDIS_BACKEND: no sentinel address: want sentinel://host1:26379,host2:26379/MASTER[/db]")
	}
	master, db, _ := strings.Cut(strings.Trim(path, "/"), "/")
	if master == "" {
		return t, badSetting("REDIS_BACKEND: no master name: want sentinel://host1:26379,host2:26379/MASTER[/db]")
	}
	t.master = master
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return t, badSetting("REDIS_BACKEND: database %q in the URL is not a number", db)
		}
		t.db = n
	}
	t.network = "sentinel"
	t.display = "sentinel://" + strings.Join(t.sentinels, ",") + "/" + t.master
	if t.db >= 0 {
		t.display += "/" + strconv.Itoa(t.db)
	}
	return t, nil
}

// dialFunc returns the pool's dial function for t: a plain dial, or through the sentinels;
// either wrapped to WAIT for replicas after writes when asked.
func dialFunc(t target, r redisSettings, opts []redis.DialOption) (func(context.Context) (redis.Conn, error), error) {
	dial := func(ctx context.Context) (redis.Conn, error) {
		return redis.DialContext(ctx, t.network, t.addr, opts...)
	}
	if t.network == "sentinel" {
		var sopts []redis.DialOption
		if r.HA.SentinelPassword != "" {
			sopts = append(sopts, redis.DialPassword(r.HA.SentinelPassword))
		}
		d, err := sentinel.New(sentinel.Config{Sentinels: t.sentinels, Master: t.master,
			SentinelOptions: sopts, MasterOptions: opts, Logger: r.HA.Logger})
		if err != nil {
			return nil, badSetting("REDIS_BACKEND: %v", err)
		}
		dial = d.DialContext
	}
	if n := r.HA.WaitReplicas; n > 0 {
		inner := dial
		dial = func(ctx context.Context) (redis.Conn, error) {
			c, err := inner(ctx)
			if err != nil {
				return nil, err
			}
			return sentinel.WaitReplicas(c, n, r.HA.WaitTimeout), nil
		}
	}
	return dial, nil
}
