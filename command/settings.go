package command

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goresque/goresque/compat"
	"github.com/goresque/goresque/resque"
)

// lookupFunc reads one environment variable; tests inject a map.
type lookupFunc func(string) (string, bool)

// source is where settings come from: a flag wins over its environment variable, as
// `QUEUE=a goresque work --queue b` works b.
type source struct {
	env   lookupFunc
	flags map[string]string // flag name -> value, for the flags given on the command line
}

// get returns the flag value if the flag was given, else the environment variable.
func (s source) get(flag, env string) (string, bool) {
	if v, ok := s.flags[flag]; ok {
		return v, true
	}
	if env == "" {
		return "", false
	}
	return s.env(env)
}

// phpEmpty is PHP's empty() for a string from getenv(): "" and "0" are empty. bin/resque
// reads INTERVAL, COUNT, PREFIX, LOGGING, VERBOSE and VVERBOSE through it.
func phpEmpty(v string) bool { return v == "" || v == "0" }

// A settingError is a bad setting; the message names the variable and the value.
type settingError struct{ msg string }

func (e *settingError) Error() string { return e.msg }

func badSetting(format string, a ...any) error { return &settingError{msg: fmt.Sprintf(format, a...)} }

// workSettings is everything `goresque work` reads.
type workSettings struct {
	Queues          []string
	Interval        time.Duration
	Blocking        bool
	Count           int
	Concurrency     int
	Prefix          string
	AppInclude      string
	PIDFile         string
	Verbose         bool
	VVerbose        bool
	LogFormat       string
	Dialect         resque.Dialect
	ShutdownTimeout time.Duration
	Heartbeat       time.Duration
	PruneAfter      time.Duration
	DeadJobs        resque.DeadJobPolicy
	Scheduler       bool // also move due delayed jobs (GORESQUE_SCHEDULER)
	Redis           redisSettings
	PHP             phpSettings
}

// phpSettings configure the PHP bridge (package compat).
type phpSettings struct {
	Off       bool
	Mode      compat.Mode
	Isolation compat.Isolation
	Binary    string
	Args      []string
	Pool      int // GORESQUE_PHP_POOL; 0: the default (see phpPoolSize)
	Timeout   time.Duration
	MaxJobs   int
	MaxMemory int64
	TTL       time.Duration
	Debug     bool
}

// readPHPSettings reads the GORESQUE_PHP_* variables. GORESQUE_PHP_ARGS is split on white
// space, never given to a shell.
func readPHPSettings(src source) (phpSettings, error) {
	var p phpSettings
	var err error
	mode, _ := src.get("php", "GORESQUE_PHP")
	if strings.EqualFold(strings.TrimSpace(mode), "off") {
		p.Off = true
		return p, nil
	}
	if p.Mode, err = compat.ParseMode(mode); err != nil {
		return p, badSetting("GORESQUE_PHP=%q: want pool, job or off", mode)
	}
	iso, _ := src.get("php-isolation", "GORESQUE_PHP_ISOLATION")
	if p.Isolation, err = compat.ParseIsolation(iso); err != nil {
		return p, badSetting("GORESQUE_PHP_ISOLATION=%q: want fork or none", iso)
	}
	p.Binary, _ = src.get("php-binary", "GORESQUE_PHP_BINARY")
	args, _ := src.get("php-args", "GORESQUE_PHP_ARGS")
	p.Args = strings.Fields(args)
	if v, ok := src.get("php-timeout", "GORESQUE_PHP_TIMEOUT"); ok && v != "" {
		if p.Timeout, err = parseSeconds(v); err != nil {
			return p, badSetting("GORESQUE_PHP_TIMEOUT=%q: %v", v, err)
		}
	}
	if v, ok := src.get("php-ttl", "GORESQUE_PHP_TTL"); ok && v != "" {
		if p.TTL, err = parseSeconds(v); err != nil {
			return p, badSetting("GORESQUE_PHP_TTL=%q: %v", v, err)
		}
	}
	if v, ok := src.get("php-pool", "GORESQUE_PHP_POOL"); ok && v != "" {
		if p.Pool, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || p.Pool < 0 {
			return p, badSetting("GORESQUE_PHP_POOL=%q: want a whole number of PHP processes (0: the default)", v)
		}
	}
	if v, ok := src.get("php-max-jobs", "GORESQUE_PHP_MAX_JOBS"); ok && v != "" {
		if p.MaxJobs, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || p.MaxJobs < 0 {
			return p, badSetting("GORESQUE_PHP_MAX_JOBS=%q: want a whole number of jobs (0: no limit)", v)
		}
	}
	if v, ok := src.get("php-max-memory", "GORESQUE_PHP_MAX_MEMORY"); ok && v != "" {
		mb, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || mb < 0 {
			return p, badSetting("GORESQUE_PHP_MAX_MEMORY=%q: want megabytes (0: no limit)", v)
		}
		p.MaxMemory = int64(mb * (1 << 20))
	}
	debug, _ := src.get("", "GORESQUE_PHP_DEBUG")
	p.Debug = !phpEmpty(debug)
	return p, nil
}

// readWorkSettings applies bin/resque's rules (chrisboulton/php-resque and
// resque/php-resque v1.3.6 agree on them):
//
//   - QUEUE is required and split on ",".
//   - INTERVAL defaults to 5 when empty() ("" or "0"); fractions are allowed (usleep).
//   - BLOCKING is on whenever the variable is set, even to "" or "0".
//   - COUNT above 1 starts that many worker processes.
//   - PREFIX sets the namespace when not empty().
//   - LOGGING or VERBOSE log each job, VVERBOSE logs debug lines too.
//
// Values PHP would silently misread (INTERVAL=abc, COUNT=two) are errors here.
func readWorkSettings(src source) (workSettings, error) {
	var s workSettings
	q, _ := src.get("queue", "QUEUE")
	for _, part := range strings.Split(q, ",") {
		if part = strings.TrimSpace(part); part != "" {
			s.Queues = append(s.Queues, part)
		}
	}
	if len(s.Queues) == 0 {
		return s, badSetting("QUEUE is not set: set it (or --queue) to the queues to work, e.g. QUEUE=high,default or QUEUE=*")
	}
	_, s.Blocking = src.get("blocking", "BLOCKING")
	if v, ok := src.flags["blocking"]; ok {
		s.Blocking = v != "false"
	}

	s.Interval = 5 * time.Second
	if v, _ := src.get("interval", "INTERVAL"); !phpEmpty(v) {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return s, badSetting("INTERVAL=%q: want a number of seconds, e.g. 5 or 0.5", v)
		}
		if f == 0 && !s.Blocking {
			return s, badSetting("INTERVAL=%q: 0 would poll Redis in a busy loop; use a positive number of seconds", v)
		}
		s.Interval = time.Duration(f * float64(time.Second))
		if s.Interval == 0 {
			// BLOCKING with INTERVAL below 1: php-resque's BLPOP waits forever; goresque
			// wakes on arrival anyway, so any wait works.
			s.Interval = 5 * time.Second
		}
	}

	s.Count = 1
	if v, _ := src.get("count", "COUNT"); !phpEmpty(v) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return s, badSetting("COUNT=%q: want a whole number of worker processes", v)
		}
		if n > 1 {
			s.Count = n
		}
	}
	s.Concurrency = 1
	if v, ok := src.get("concurrency", "GORESQUE_CONCURRENCY"); ok && v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return s, badSetting("GORESQUE_CONCURRENCY=%q: want a whole number of jobs at once per process, at least 1", v)
		}
		s.Concurrency = n
	}
	if v, _ := src.get("prefix", "PREFIX"); !phpEmpty(v) {
		s.Prefix = v
	}
	s.AppInclude, _ = src.get("app-include", "APP_INCLUDE")
	s.PIDFile, _ = src.get("pidfile", "PIDFILE")
	logging, _ := src.get("", "LOGGING")
	verbose, _ := src.get("", "VERBOSE")
	vverbose, _ := src.get("", "VVERBOSE")
	s.Verbose = !phpEmpty(logging) || !phpEmpty(verbose)
	s.VVerbose = !phpEmpty(vverbose)
	if v, ok := src.flags["verbose"]; ok {
		s.Verbose = v != "false"
	}
	if v, ok := src.flags["vverbose"]; ok {
		s.VVerbose = v != "false"
	}
	s.LogFormat, _ = src.get("log-format", "GORESQUE_LOG_FORMAT")
	switch s.LogFormat {
	case "", "auto", "json", "console":
	default:
		return s, badSetting("GORESQUE_LOG_FORMAT=%q: want json, console or auto", s.LogFormat)
	}
	var err error
	d, _ := src.get("dialect", "GORESQUE_DIALECT")
	if s.Dialect, err = resque.ParseDialect(d); err != nil {
		return s, badSetting("GORESQUE_DIALECT=%q: want php-resque-136 (resque/php-resque 1.3) or php-resque-1 (chrisboulton/php-resque)", d)
	}
	if v, ok := src.get("shutdown-timeout", "GORESQUE_SHUTDOWN_TIMEOUT"); ok && v != "" {
		if s.ShutdownTimeout, err = parseSeconds(v); err != nil {
			return s, badSetting("GORESQUE_SHUTDOWN_TIMEOUT=%q: %v", v, err)
		}
	}
	if v, ok := src.get("heartbeat", "GORESQUE_HEARTBEAT_INTERVAL"); ok && v != "" {
		if s.Heartbeat, err = parseSeconds(v); err != nil {
			return s, badSetting("GORESQUE_HEARTBEAT_INTERVAL=%q: %v", v, err)
		}
	}
	if v, ok := src.get("prune-after", "GORESQUE_PRUNE_AFTER"); ok && v != "" {
		if s.PruneAfter, err = parseSeconds(v); err != nil {
			return s, badSetting("GORESQUE_PRUNE_AFTER=%q: %v", v, err)
		}
	}
	dj, _ := src.get("dead-jobs", "GORESQUE_DEAD_JOBS")
	if s.DeadJobs, err = resque.ParseDeadJobPolicy(dj); err != nil {
		return s, badSetting("GORESQUE_DEAD_JOBS=%q: want fail or requeue", dj)
	}
	if v, _ := src.get("scheduler", "GORESQUE_SCHEDULER"); v != "" {
		var known bool
		if s.Scheduler, known = parseBool(v); !known {
			return s, badSetting("GORESQUE_SCHEDULER=%q: want 1 or 0", v)
		}
	}
	if s.Redis, err = readRedisSettings(src); err != nil {
		return s, err
	}
	if s.PHP, err = readPHPSettings(src); err != nil {
		return s, err
	}
	return s, nil
}

// parseBool reads a yes/no setting; known is false for anything else, so a typo never
// turns on something like skipping certificate checks.
func parseBool(v string) (on, known bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on", "y":
		return true, true
	case "", "0", "false", "no", "off", "n":
		return false, true
	}
	return false, false
}

// parseSeconds reads "30", "2.5" (seconds) or a Go duration ("1m30s").
func parseSeconds(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, errors.New("want a non-negative number of seconds")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("want a number of seconds or a duration like 1m30s")
	}
	return d, nil
}

// redisSettings say how to reach Redis.
type redisSettings struct {
	Backend  string // REDIS_BACKEND: host, host:port, redis://, rediss://, unix:///path or /path
	DB       int    // REDIS_BACKEND_DB; -1 when unset
	Username string
	Password string
	TLS      tlsSettings
	HA       haSettings // Sentinel's password, WAIT for replicas (sentinel.go)
}

type tlsSettings struct {
	CAFile, CertFile, KeyFile, ServerName string
	InsecureSkipVerify                    bool
}

// readRedisSettings reads REDIS_BACKEND and REDIS_BACKEND_DB as bin/resque does, and the
// credentials and TLS files goresque adds. A password can come from the URL,
// REDIS_PASSWORD or, better (it then appears in no environment listing), a file named by
// REDIS_PASSWORD_FILE.
func readRedisSettings(src source) (redisSettings, error) {
	r := redisSettings{DB: -1}
	r.Backend, _ = src.get("redis", "REDIS_BACKEND")
	if r.Backend == "" {
		r.Backend = "localhost:6379"
	}
	if v, ok := src.get("db", "REDIS_BACKEND_DB"); ok && v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return r, badSetting("REDIS_BACKEND_DB=%q: want a database number, e.g. 0", v)
		}
		r.DB = n
	}
	r.Username, _ = src.get("redis-username", "REDIS_USERNAME")
	r.Password, _ = src.get("", "REDIS_PASSWORD")
	if f, ok := src.get("redis-password-file", "REDIS_PASSWORD_FILE"); ok && f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return r, badSetting("REDIS_PASSWORD_FILE: %v", err)
		}
		r.Password = strings.TrimRight(string(b), "\r\n")
	}
	r.TLS.CAFile, _ = src.get("tls-ca", "REDIS_TLS_CA_FILE")
	r.TLS.CertFile, _ = src.get("tls-cert", "REDIS_TLS_CERT_FILE")
	r.TLS.KeyFile, _ = src.get("tls-key", "REDIS_TLS_KEY_FILE")
	r.TLS.ServerName, _ = src.get("tls-server-name", "REDIS_TLS_SERVER_NAME")
	if v, ok := src.get("tls-insecure-skip-verify", "REDIS_TLS_INSECURE_SKIP_VERIFY"); ok {
		on, known := parseBool(v)
		if !known {
			return r, badSetting("REDIS_TLS_INSECURE_SKIP_VERIFY=%q: want 1/true/yes/on or 0/false/no/off", v)
		}
		r.TLS.InsecureSkipVerify = on
	}
	if (r.TLS.CertFile == "") != (r.TLS.KeyFile == "") {
		return r, badSetting("REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together")
	}
	var err error
	r.HA, err = readHASettings(src)
	return r, err
}
