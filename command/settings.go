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

// A setting is one of goresque's knobs, spelled once: its flag, its environment
// variables, its help line, its default and how its value is read. The flags, `--help`
// and readWorkSettings/readRedisSettings are all made from settingsTable; the README's
// tables are checked against it (TestREADMENamesEverySetting).
type setting struct {
	flag    string   // --flag; "" for environment only (no password flag: ps shows flags)
	aliases []string // short flag names
	env     []string // variables read, the first set one wins; env[0] names the setting in errors
	usage   string
	def     string // the value when unset, read by parse and shown in help; "" for none
	global  bool   // Redis, TLS, namespace and dialect: for every command, documented once
	cmd     string // the command that reads it when not global: "" for work, "web"
	read    readRule
	parse   func(s *workSettings, v string) error
}

// readRule says when a variable counts as set. bin/resque reads some variables through
// PHP's empty() and BLOCKING through getenv() !== false; the rule is part of the setting
// so that each is stated once.
type readRule int

const (
	// readNonEmpty: set when not "".
	readNonEmpty readRule = iota
	// readPHPEmpty: set unless PHP's empty() holds: "" and "0" are unset (INTERVAL,
	// COUNT, PREFIX, LOGGING, VERBOSE, VVERBOSE in bin/resque).
	readPHPEmpty
	// readPresence: an on/off setting, on whenever its variable exists, even as "" or "0"
	// (BLOCKING in bin/resque). Its flag takes no value: --blocking, --blocking=false.
	readPresence
	// readSwitch: an on/off setting read through empty(); its flag takes no value.
	readSwitch
	// readBool: an on/off setting, set when not ""; its parse takes only known
	// spellings (parseBool), so a typo never turns on something like skipping
	// certificate checks. Its flag takes no value.
	readBool
)

// isBool reports whether the setting's flag takes no value.
func (st setting) isBool() bool {
	return st.read == readPresence || st.read == readSwitch || st.read == readBool
}

// forWork reports whether `goresque work` reads the setting.
func (st setting) forWork() bool { return st.global || st.cmd == "" }

// isSet applies the read rule to an environment value.
func (st setting) isSet(v string) bool {
	switch st.read {
	case readPresence:
		return true
	case readPHPEmpty, readSwitch:
		return !phpEmpty(v)
	case readNonEmpty, readBool: // as below
	}
	return v != ""
}

// settingsTable is every setting, in the order they are read: a parser may look at the
// settings before it (INTERVAL at BLOCKING, REDIS_PASSWORD_FILE after REDIS_PASSWORD).
func settingsTable() []setting {
	return []setting{
		// Redis and the namespace: every command.
		{flag: "redis", env: []string{"REDIS_BACKEND"}, global: true, def: "localhost:6379",
			usage: "Redis to use: host:port, redis://[user:pass@]host:port/db, rediss://... (TLS), a unix socket path or sentinel://[user:pass@]host:26379,.../MASTER[/db]",
			parse: func(s *workSettings, v string) error { s.Redis.Backend = v; return nil }},
		{flag: "db", env: []string{"REDIS_BACKEND_DB"}, global: true,
			usage: "database number (a database in the REDIS_BACKEND URL wins, as in php-resque)",
			parse: func(s *workSettings, v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 0 {
					return errors.New("want a database number, e.g. 0")
				}
				s.Redis.DB = n
				return nil
			}},
		{flag: "redis-username", env: []string{"REDIS_USERNAME"}, global: true, usage: "ACL user name",
			parse: func(s *workSettings, v string) error { s.Redis.Username = v; return nil }},
		{env: []string{"REDIS_PASSWORD"}, global: true, usage: "Redis password (no flag: it would show in ps)",
			parse: func(s *workSettings, v string) error { s.Redis.Password = v; return nil }},
		{flag: "redis-password-file", env: []string{"REDIS_PASSWORD_FILE"}, global: true,
			usage: "read the Redis password from this file (wins over REDIS_PASSWORD)",
			parse: func(s *workSettings, v string) error {
				b, err := os.ReadFile(v)
				if err != nil {
					return err
				}
				s.Redis.Password = strings.TrimRight(string(b), "\r\n")
				return nil
			}},
		{env: []string{"REDIS_SENTINEL_PASSWORD"}, global: true,
			usage: "the sentinels' own password, for sentinel:// (no flag: it would show in ps)",
			parse: func(s *workSettings, v string) error { s.Redis.HA.SentinelPassword = v; return nil }},
		{flag: "redis-sentinel-password-file", env: []string{"REDIS_SENTINEL_PASSWORD_FILE"}, global: true,
			usage: "read the sentinels' password from this file (wins over REDIS_SENTINEL_PASSWORD)",
			parse: func(s *workSettings, v string) error {
				b, err := os.ReadFile(v)
				if err != nil {
					return err
				}
				s.Redis.HA.SentinelPassword = strings.TrimRight(string(b), "\r\n")
				return nil
			}},
		{flag: "redis-wait-replicas", env: []string{"GORESQUE_REDIS_WAIT_REPLICAS"}, global: true,
			usage: "after each write, WAIT until this many replicas have it (0: do not wait)",
			parse: func(s *workSettings, v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 0 {
					return errors.New("want a number of replicas (0: do not wait)")
				}
				s.Redis.HA.WaitReplicas = n
				return nil
			}},
		{flag: "redis-wait-timeout", env: []string{"GORESQUE_REDIS_WAIT_TIMEOUT"}, global: true, def: "2",
			usage: "the longest WAIT for replicas, in seconds",
			parse: func(s *workSettings, v string) error {
				d, err := parseSeconds(v)
				if err != nil || d <= 0 {
					return errors.New("want a positive number of seconds")
				}
				s.Redis.HA.WaitTimeout = d
				return nil
			}},
		{flag: "tls-ca", env: []string{"REDIS_TLS_CA_FILE"}, global: true, usage: "CA certificate for rediss://",
			parse: func(s *workSettings, v string) error { s.Redis.TLS.CAFile = v; return nil }},
		{flag: "tls-cert", env: []string{"REDIS_TLS_CERT_FILE"}, global: true, usage: "client certificate for rediss://",
			parse: func(s *workSettings, v string) error { s.Redis.TLS.CertFile = v; return nil }},
		{flag: "tls-key", env: []string{"REDIS_TLS_KEY_FILE"}, global: true, usage: "client key for rediss://",
			parse: func(s *workSettings, v string) error { s.Redis.TLS.KeyFile = v; return nil }},
		{flag: "tls-server-name", env: []string{"REDIS_TLS_SERVER_NAME"}, global: true, usage: "server name to verify",
			parse: func(s *workSettings, v string) error { s.Redis.TLS.ServerName = v; return nil }},
		// Only known spellings: a typo must not turn certificate checks off.
		{flag: "tls-insecure-skip-verify", env: []string{"REDIS_TLS_INSECURE_SKIP_VERIFY"}, global: true, read: readBool,
			usage: "do not verify the server certificate (1/true/yes/on or 0/false/no/off)",
			parse: func(s *workSettings, v string) (err error) {
				s.Redis.TLS.InsecureSkipVerify, err = parseBoolSetting(v)
				return err
			}},
		{flag: "prefix", env: []string{"PREFIX"}, global: true, read: readPHPEmpty, def: "resque",
			usage: "key namespace: myapp gives myapp:queues",
			parse: func(s *workSettings, v string) error { s.Prefix = v; return nil }},
		{flag: "dialect", env: []string{"GORESQUE_DIALECT"}, global: true, def: "php-resque-136",
			usage: "php-resque-136 (resque/php-resque 1.3) or php-resque-1 (chrisboulton/php-resque): the format written",
			parse: func(s *workSettings, v string) (err error) {
				if s.Dialect, err = resque.ParseDialect(v); err != nil {
					return errors.New("want php-resque-136 (resque/php-resque 1.3) or php-resque-1 (chrisboulton/php-resque)")
				}
				return nil
			}},

		// goresque work.
		{flag: "queue", aliases: []string{"q"}, env: []string{"QUEUE"},
			usage: "queues to work, highest priority first, comma separated; * for all (required)",
			parse: func(s *workSettings, v string) error {
				for _, part := range strings.Split(v, ",") {
					if part = strings.TrimSpace(part); part != "" {
						s.Queues = append(s.Queues, part)
					}
				}
				return nil
			}},
		{flag: "blocking", env: []string{"BLOCKING"}, read: readPresence,
			usage: "wait on the queues instead of polling (BLOCKING: on when set, even to 0)",
			parse: func(s *workSettings, v string) error { s.Blocking = true; return nil }},
		{flag: "interval", env: []string{"INTERVAL"}, read: readPHPEmpty, def: "5",
			usage: "seconds to sleep when the queues are empty, fractions allowed; the wait in blocking mode",
			parse: func(s *workSettings, v string) error {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
					return errors.New("want a number of seconds, e.g. 5 or 0.5")
				}
				if f == 0 && !s.Blocking {
					return errors.New("0 would poll Redis in a busy loop; use a positive number of seconds")
				}
				s.Interval = time.Duration(f * float64(time.Second))
				if s.Interval == 0 {
					// BLOCKING with INTERVAL below 1: php-resque's BLPOP waits forever;
					// goresque wakes on arrival anyway, so any wait works.
					s.Interval = 5 * time.Second
				}
				return nil
			}},
		{flag: "count", env: []string{"COUNT"}, read: readPHPEmpty, def: "1",
			usage: "number of worker processes; the pid file holds the parent's pid",
			parse: func(s *workSettings, v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					return errors.New("want a whole number of worker processes")
				}
				s.Count = max(n, 1)
				return nil
			}},
		{flag: "concurrency", env: []string{"GORESQUE_CONCURRENCY"}, def: "1",
			usage: "jobs at once per process, each slot a registered worker",
			parse: func(s *workSettings, v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 1 {
					return errors.New("want a whole number of jobs at once per process, at least 1")
				}
				s.Concurrency = n
				return nil
			}},
		{flag: "app-include", env: []string{"APP_INCLUDE"},
			usage: "PHP file to load before PHP jobs run, e.g. vendor/autoload.php",
			parse: func(s *workSettings, v string) error { s.AppInclude = v; return nil }},
		{flag: "pidfile", env: []string{"PIDFILE"}, usage: "write the process id to this file (removed at exit)",
			parse: func(s *workSettings, v string) error { s.PIDFile = v; return nil }},
		{flag: "verbose", aliases: []string{"v"}, env: []string{"LOGGING", "VERBOSE"}, read: readSwitch,
			usage: "log every job",
			parse: func(s *workSettings, v string) error { s.Verbose = true; return nil }},
		{flag: "vverbose", aliases: []string{"vv"}, env: []string{"VVERBOSE"}, read: readSwitch,
			usage: "log debug details too",
			parse: func(s *workSettings, v string) error { s.VVerbose = true; return nil }},
		{flag: "log-format", env: []string{"GORESQUE_LOG_FORMAT"}, def: "auto",
			usage: "json, console or auto (console on a terminal)",
			parse: func(s *workSettings, v string) error {
				switch v {
				case "auto", "json", "console":
					s.LogFormat = v
					return nil
				}
				return errors.New("want json, console or auto")
			}},
		{flag: "shutdown-timeout", env: []string{"GORESQUE_SHUTDOWN_TIMEOUT"},
			usage: "longest wait for running jobs after SIGQUIT, then stop as for SIGTERM (default: no limit)",
			parse: func(s *workSettings, v string) (err error) { s.ShutdownTimeout, err = parseSeconds(v); return err }},
		{flag: "dead-jobs", env: []string{"GORESQUE_DEAD_JOBS"}, def: "fail",
			usage: "what to do with a dead worker's job: fail or requeue",
			parse: func(s *workSettings, v string) (err error) {
				if s.DeadJobs, err = resque.ParseDeadJobPolicy(v); err != nil {
					return errors.New("want fail or requeue")
				}
				return nil
			}},
		{flag: "retry", env: []string{"GORESQUE_RETRY"},
			usage: `retry policies, e.g. 'App\Jobs\SendMail=5:exp:10s:1h:jitter;Other=3:fixed:1m' (README: Retries)`,
			parse: func(s *workSettings, v string) (err error) { s.Retries, err = resque.ParseRetries(v); return err }},
		{flag: "route", env: []string{"GORESQUE_ROUTE"},
			usage: `share of a ported class's jobs for its Go handler, the rest to the PHP class, e.g. 'App\Jobs\SendMail=go:10%;Other=php' (README: Migrating a class)`,
			parse: func(s *workSettings, v string) (err error) { s.Routes, err = resque.ParseRoutes(v); return err }},
		{flag: "heartbeat", env: []string{"GORESQUE_HEARTBEAT_INTERVAL"},
			usage: "how often each worker writes its heartbeat (default 60s, Ruby resque's)",
			parse: func(s *workSettings, v string) (err error) { s.Heartbeat, err = parseSeconds(v); return err }},
		{flag: "prune-after", env: []string{"GORESQUE_PRUNE_AFTER"},
			usage: "prune workers on any host whose heartbeat is older (default 300s, at least 3 heartbeats)",
			parse: func(s *workSettings, v string) (err error) { s.PruneAfter, err = parseSeconds(v); return err }},

		{flag: "scheduler", env: []string{"GORESQUE_SCHEDULER"}, read: readBool,
			usage: "also move due delayed jobs onto their queues, as `goresque scheduler`",
			parse: func(s *workSettings, v string) (err error) { s.Scheduler, err = parseBoolSetting(v); return err }},
		{flag: "class-stats", env: []string{"GORESQUE_CLASS_STATS"}, def: "1000",
			usage: "per-class statistics, shown by goresque classes: the most classes kept (0: off)",
			parse: func(s *workSettings, v string) error {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 0 {
					return errors.New("want a whole number of classes (0: off)")
				}
				s.ClassStats = n
				if n == 0 {
					s.ClassStats = -1
				}
				return nil
			}},
		{flag: "metrics-addr", env: []string{"GORESQUE_METRICS_ADDR"},
			usage: "serve Prometheus /metrics of this process on this address, e.g. 127.0.0.1:9121 (not with COUNT > 1)",
			parse: func(s *workSettings, v string) error { s.MetricsAddr = v; return nil }},

		// The PHP bridge (package compat).
		{flag: "php", env: []string{"GORESQUE_PHP"}, def: "pool",
			usage: "PHP bridge for classes without a Go handler: pool (warm processes), job (php per job) or off",
			parse: func(s *workSettings, v string) (err error) {
				if strings.EqualFold(strings.TrimSpace(v), "off") {
					s.PHP.Off = true
					return nil
				}
				if s.PHP.Mode, err = compat.ParseMode(v); err != nil {
					return errors.New("want pool, job or off")
				}
				return nil
			}},
		{flag: "php-isolation", env: []string{"GORESQUE_PHP_ISOLATION"}, def: "fork",
			usage: "pool: fork (a child per job, as php-resque) or none (jobs run in the warm process)",
			parse: func(s *workSettings, v string) (err error) {
				if s.PHP.Isolation, err = compat.ParseIsolation(v); err != nil {
					return errors.New("want fork or none")
				}
				return nil
			}},
		{flag: "php-binary", env: []string{"GORESQUE_PHP_BINARY"}, def: "php", usage: "php executable",
			parse: func(s *workSettings, v string) error { s.PHP.Binary = v; return nil }},
		{flag: "php-args", env: []string{"GORESQUE_PHP_ARGS"},
			usage: `extra php arguments, split on spaces (never by a shell), e.g. "-d memory_limit=512M"`,
			parse: func(s *workSettings, v string) error { s.PHP.Args = strings.Fields(v); return nil }},
		{flag: "php-timeout", env: []string{"GORESQUE_PHP_TIMEOUT"},
			usage: "kill a PHP job after this long, recorded as a dirty exit (default: no limit)",
			parse: func(s *workSettings, v string) (err error) { s.PHP.Timeout, err = parseSeconds(v); return err }},
		{flag: "php-pool", env: []string{"GORESQUE_PHP_POOL"},
			usage: "the most PHP jobs (and php processes) at once, started lazily (default: CPUs, at most the slots)",
			parse: func(s *workSettings, v string) (err error) {
				if s.PHP.Pool, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || s.PHP.Pool < 0 {
					return errors.New("want a whole number of PHP processes (0: the default)")
				}
				return nil
			}},
		{flag: "php-max-jobs", env: []string{"GORESQUE_PHP_MAX_JOBS"},
			usage: "recycle a warm PHP process after this many jobs",
			parse: func(s *workSettings, v string) (err error) {
				if s.PHP.MaxJobs, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || s.PHP.MaxJobs < 0 {
					return errors.New("want a whole number of jobs (0: no limit)")
				}
				return nil
			}},
		{flag: "php-max-memory", env: []string{"GORESQUE_PHP_MAX_MEMORY"},
			usage: "recycle a warm PHP process above this resident size, in MB",
			parse: func(s *workSettings, v string) error {
				mb, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || mb < 0 || math.IsNaN(mb) || math.IsInf(mb, 0) {
					return errors.New("want megabytes (0: no limit)")
				}
				s.PHP.MaxMemory = int64(mb * (1 << 20))
				return nil
			}},
		{flag: "php-ttl", env: []string{"GORESQUE_PHP_TTL"}, usage: "recycle a warm PHP process after this age",
			parse: func(s *workSettings, v string) (err error) { s.PHP.TTL, err = parseSeconds(v); return err }},
		{env: []string{"GORESQUE_PHP_DEBUG"}, read: readSwitch, usage: "log the PHP bridge's protocol",
			parse: func(s *workSettings, v string) error { s.PHP.Debug = true; return nil }},

		// goresque web.
		{flag: "listen", env: []string{"GORESQUE_WEB_LISTEN"}, cmd: "web", def: defaultWebListen,
			usage: "address to serve on; beyond loopback only with a password",
			parse: func(s *workSettings, v string) error { s.Web.Listen = v; return nil }},
		{flag: "https-cert", env: []string{"GORESQUE_WEB_TLS_CERT_FILE"}, cmd: "web",
			usage: "serve HTTPS with this certificate (PEM), with --https-key",
			parse: func(s *workSettings, v string) error { s.Web.TLSCert = v; return nil }},
		{flag: "https-key", env: []string{"GORESQUE_WEB_TLS_KEY_FILE"}, cmd: "web", usage: "the certificate's key (PEM)",
			parse: func(s *workSettings, v string) error { s.Web.TLSKey = v; return nil }},
		{flag: "read-only", env: []string{"GORESQUE_WEB_READ_ONLY"}, cmd: "web", read: readBool,
			usage: "show everything, change nothing: no retry, remove, dequeue or pause",
			parse: func(s *workSettings, v string) (err error) { s.Web.ReadOnly, err = parseBoolSetting(v); return err }},
		{env: []string{"GORESQUE_WEB_USER"}, cmd: "web", def: "admin", usage: "basic-auth user",
			parse: func(s *workSettings, v string) error { s.Web.User = v; return nil }},
		{env: []string{"GORESQUE_WEB_PASSWORD"}, cmd: "web", usage: "basic-auth password (no flag: it would show in ps)",
			parse: func(s *workSettings, v string) error { s.Web.Password = v; return nil }},
		{env: []string{"GORESQUE_WEB_PASSWORD_FILE"}, cmd: "web", usage: "read the basic-auth password from this file",
			parse: func(s *workSettings, v string) error {
				if s.Web.Password != "" {
					return errors.New("set GORESQUE_WEB_PASSWORD or GORESQUE_WEB_PASSWORD_FILE, not both")
				}
				b, err := os.ReadFile(v)
				if err != nil {
					return err
				}
				if s.Web.Password = strings.TrimRight(string(b), "\r\n"); s.Web.Password == "" {
					return errors.New("the file is empty")
				}
				return nil
			}},
	}
}

// source is where settings come from: a flag wins over its environment variable, as
// `QUEUE=a goresque work --queue b` works b.
type source struct {
	env   lookupFunc
	flags map[string]string // flag name -> value, for the flags given on the command line
}

// value returns the setting's value and whether it is set, by its read rule. A flag
// given on the command line decides alone: --blocking=false is off whatever BLOCKING says.
func (src source) value(st setting) (v string, set bool) {
	if st.flag != "" {
		if v, ok := src.flags[st.flag]; ok {
			if st.isBool() {
				on, known := parseBool(v)
				return v, on || !known // an unknown spelling reaches parse and its error
			}
			return v, st.isSet(v)
		}
	}
	for _, name := range st.env {
		if v, ok := src.env(name); ok && st.isSet(v) {
			return v, true
		}
	}
	return "", false
}

// phpEmpty is PHP's empty() for a string from getenv(): "" and "0" are empty.
func phpEmpty(v string) bool { return v == "" || v == "0" }

// A settingError is a bad setting; the message names the variable and the value.
type settingError struct{ msg string }

func (e *settingError) Error() string { return e.msg }

func badSetting(format string, a ...any) error { return &settingError{msg: fmt.Sprintf(format, a...)} }

// workSettings is everything `goresque work` reads; the other commands read its global
// part (Redis, Prefix, Dialect).
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
	Retries         map[string]resque.Retry // GORESQUE_RETRY, for classes configured outside Go
	Routes          map[string]int          // GORESQUE_ROUTE: the Go handler's share of a class's jobs, percent
	Scheduler       bool                    // also move due delayed jobs (GORESQUE_SCHEDULER)
	MetricsAddr     string
	ClassStats      int // GORESQUE_CLASS_STATS for resque.Config.ClassStats: -1 off
	Redis           redisSettings
	PHP             phpSettings
	Web             webSettings // goresque web's
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

// readSettings reads the settings of settingsTable that pass keep, in table order: each
// from its flag or environment by its read rule, else its default. Errors name the
// variable and the value, as `INTERVAL="abc": want a number of seconds`.
func readSettings(src source, keep func(setting) bool) (workSettings, error) {
	s := workSettings{Redis: redisSettings{DB: -1}}
	for _, st := range settingsTable() {
		if !keep(st) {
			continue
		}
		v, set := src.value(st)
		if !set {
			if st.def == "" {
				continue
			}
			v = st.def
		}
		if err := st.parse(&s, v); err != nil {
			return s, badSetting("%s=%q: %v", st.env[0], v, err)
		}
	}
	if (s.Redis.TLS.CertFile == "") != (s.Redis.TLS.KeyFile == "") {
		return s, badSetting("REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together")
	}
	return s, nil
}

// readWorkSettings applies bin/resque's rules (chrisboulton/php-resque and
// resque/php-resque v1.3.6 agree on them), as the read rules of settingsTable state:
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
	s, err := readSettings(src, setting.forWork)
	if err != nil {
		return s, err
	}
	if len(s.Queues) == 0 {
		return s, badSetting("QUEUE is not set: set it (or --queue) to the queues to work, e.g. QUEUE=high,default or QUEUE=*")
	}
	return s, nil
}

// readGlobalSettings reads what every command needs: Redis, the namespace, the dialect.
func readGlobalSettings(src source) (workSettings, error) {
	return readSettings(src, func(st setting) bool { return st.global })
}

// readRedisSettings reads REDIS_BACKEND and REDIS_BACKEND_DB as bin/resque does, and the
// credentials and TLS files goresque adds. A password can come from the URL,
// REDIS_PASSWORD or, better (it then appears in no environment listing), a file named by
// REDIS_PASSWORD_FILE.
func readRedisSettings(src source) (redisSettings, error) {
	s, err := readGlobalSettings(src)
	return s.Redis, err
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

// parseBoolSetting is parseBool for a readBool setting: an unknown spelling is an error.
func parseBoolSetting(v string) (bool, error) {
	on, known := parseBool(v)
	if !known {
		return false, errors.New("want 1/true/yes/on or 0/false/no/off")
	}
	return on, nil
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
