package command

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// target is a parsed REDIS_BACKEND.
type target struct {
	network, addr string // "tcp" host:port or "unix" path
	tls           bool
	username      string
	password      string
	db            int // -1: leave the connection's default (0)
	display       string
	sentinels     []string // sentinel://: the sentinels' host:port (network "sentinel")
	master        string   // sentinel://: the master's name
}

// parseBackend understands what php-resque's Resque::setBackend accepts (host, host:port,
// redis://user:pass@host:port/db) plus rediss:// (TLS) and unix sockets (unix:///path or
// a path). A database in the URL wins over REDIS_BACKEND_DB, as in Resque_Redis.
func parseBackend(r redisSettings) (target, error) {
	t := target{db: r.DB, username: r.Username, password: r.Password}
	b := strings.TrimSpace(r.Backend)
	switch {
	case strings.HasPrefix(b, "sentinel://"):
		return parseSentinelBackend(b, t)
	case strings.HasPrefix(b, "redis://"), strings.HasPrefix(b, "rediss://"):
		u, err := url.Parse(b)
		if err != nil {
			return t, badSetting("REDIS_BACKEND: not a valid redis URL: %v", redactErr(err, b))
		}
		t.tls = u.Scheme == "rediss"
		host, port := u.Hostname(), u.Port()
		if host == "" {
			host = "localhost"
		}
		if port == "" {
			port = "6379"
		}
		t.network, t.addr = "tcp", net.JoinHostPort(host, port)
		if u.User != nil {
			if name := u.User.Username(); name != "" {
				t.username = name
			}
			if pw, ok := u.User.Password(); ok {
				t.password = pw
			} else if t.username != "" && r.Username == "" && t.password == "" {
				// redis://secret@host: php-resque reads a lone user part as the password.
				t.password, t.username = t.username, ""
			}
		}
		if p := strings.Trim(u.Path, "/"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return t, badSetting("REDIS_BACKEND: database %q in the URL is not a number", p)
			}
			t.db = n
		}
	case strings.HasPrefix(b, "unix://"):
		t.network, t.addr = "unix", strings.TrimPrefix(b, "unix://")
	case strings.HasPrefix(b, "/"):
		t.network, t.addr = "unix", b
	case strings.Contains(b, "://"):
		// http://host:6379 would be dialled as the host "http" and fail at run time as
		// "cannot reach redis"; it is a wrong setting. The scheme only: a URL may hold a password.
		scheme, _, _ := strings.Cut(b, "://")
		return t, badSetting("REDIS_BACKEND: %q is not a Redis scheme: want host:port, redis://host:port/db, rediss://... or a unix socket path", scheme)
	default:
		host, port, err := net.SplitHostPort(b)
		if err != nil {
			host, port = b, "6379"
		}
		if host == "" {
			host = "localhost"
		}
		if _, err := strconv.Atoi(port); err != nil {
			return t, badSetting("REDIS_BACKEND=%q: want host:port, redis://host:port/db, rediss://... or a unix socket path", b)
		}
		t.network, t.addr = "tcp", net.JoinHostPort(host, port)
	}
	t.display = t.addr
	if t.network == "unix" {
		t.display = "unix:" + t.addr
	}
	if t.tls {
		t.display = "rediss://" + t.addr
	}
	if t.db >= 0 {
		t.display += "/" + strconv.Itoa(t.db)
	}
	return t, nil
}

// redactErr removes the URL's credentials from an error message. It cuts them out of the
// raw string: the URL may be the one that failed to parse.
func redactErr(err error, rawURL string) string {
	msg := err.Error()
	rest, ok := strings.CutPrefix(rawURL, "redis://")
	if !ok {
		rest, ok = strings.CutPrefix(rawURL, "rediss://")
	}
	if !ok {
		return msg
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if userinfo := rest[:at]; userinfo != "" {
			msg = strings.ReplaceAll(msg, userinfo, "xxxxx")
		}
	}
	return msg
}

// dialOptions builds redigo's options for t and the TLS files.
func dialOptions(t target, r redisSettings) ([]redis.DialOption, error) {
	opts := []redis.DialOption{
		redis.DialConnectTimeout(5 * time.Second),
		// Every command goresque sends returns quickly; blocking waits stay below 2 s.
		redis.DialReadTimeout(30 * time.Second),
		redis.DialWriteTimeout(30 * time.Second),
	}
	if t.db >= 0 {
		opts = append(opts, redis.DialDatabase(t.db))
	}
	if t.username != "" {
		opts = append(opts, redis.DialUsername(t.username))
	}
	if t.password != "" {
		opts = append(opts, redis.DialPassword(t.password))
	}
	if t.tls {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: r.TLS.ServerName, InsecureSkipVerify: r.TLS.InsecureSkipVerify} //nolint:gosec // only when asked for
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(t.addr)
		}
		if r.TLS.CAFile != "" {
			pem, err := os.ReadFile(r.TLS.CAFile)
			if err != nil {
				return nil, badSetting("REDIS_TLS_CA_FILE: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, badSetting("REDIS_TLS_CA_FILE %s: no PEM certificate in it", r.TLS.CAFile)
			}
			cfg.RootCAs = pool
		}
		if r.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(r.TLS.CertFile, r.TLS.KeyFile)
			if err != nil {
				return nil, badSetting("REDIS_TLS_CERT_FILE/REDIS_TLS_KEY_FILE: %v", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, redis.DialUseTLS(true), redis.DialTLSConfig(cfg))
	} else if r.TLS.CAFile != "" || r.TLS.CertFile != "" {
		return nil, badSetting("TLS files are set but REDIS_BACKEND is not a rediss:// URL")
	}
	return opts, nil
}

// newPool returns a pool for the settings and a display address without credentials.
func newPool(r redisSettings, maxIdle int) (*redis.Pool, string, error) {
	t, err := parseBackend(r)
	if err != nil {
		return nil, "", err
	}
	opts, err := dialOptions(t, r)
	if err != nil {
		return nil, "", err
	}
	dial, err := dialFunc(t, r, opts)
	if err != nil {
		return nil, "", err
	}
	pool := &redis.Pool{
		MaxIdle:     maxIdle,
		IdleTimeout: 5 * time.Minute,
		DialContext: dial,
		TestOnBorrowContext: func(ctx context.Context, c redis.Conn, lastUsed time.Time) error {
			if err := c.Err(); err != nil {
				return err // e.g. through Sentinel: the master moved while it was idle
			}
			if time.Since(lastUsed) < time.Minute {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
	}
	return pool, t.display, nil
}

// checkRedis makes one connection and PINGs, so that a wrong address or password is one
// clear line at start.
func checkRedis(ctx context.Context, pool *redis.Pool, display string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pool.GetContext(ctx)
	if err == nil {
		_, err = c.Do("PING")
		c.Close()
	}
	if err != nil {
		var re redis.Error
		if errors.As(err, &re) {
			return fmt.Errorf("redis at %s refused us: %v", display, re)
		}
		return fmt.Errorf("cannot reach redis at %s: %v", display, err)
	}
	return nil
}
