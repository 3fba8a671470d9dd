package command

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goresque/goresque/compat"
	"github.com/goresque/goresque/resque"
)

// TestWorkSettingsPHPRules pins how `goresque work` reads bin/resque's environment: PHP's
// getenv() and empty() rules, not Go's.
func TestWorkSettingsPHPRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		env   map[string]string
		flags map[string]string
		check func(workSettings) bool
		err   string
	}{
		{name: "defaults", env: map[string]string{"QUEUE": "default"}, check: func(s workSettings) bool {
			return s.Interval == 5*time.Second && !s.Blocking && s.Count == 1 && s.Concurrency == 1 && s.Prefix == "resque" &&
				!s.Verbose && !s.VVerbose && s.Dialect == resque.DialectPHPResque136 && s.Redis.Backend == "localhost:6379" &&
				s.Redis.DB == -1 && s.PHP.Mode == compat.ModePool && s.PHP.Isolation == compat.IsolationFork && !s.PHP.Off
		}},
		{name: "queues in order, spaces dropped", env: map[string]string{"QUEUE": "high, default ,low"}, check: func(s workSettings) bool {
			return strings.Join(s.Queues, "|") == "high|default|low"
		}},
		{name: "QUEUE=*", env: map[string]string{"QUEUE": "*"}, check: func(s workSettings) bool { return len(s.Queues) == 1 && s.Queues[0] == "*" }},
		{name: "no QUEUE", env: map[string]string{}, err: "QUEUE is not set"},
		{name: "QUEUE of commas", env: map[string]string{"QUEUE": ",,"}, err: "QUEUE is not set"},
		// BLOCKING: on whenever the variable exists (bin/resque: getenv('BLOCKING') !== false).
		{name: "BLOCKING=0 is on", env: map[string]string{"QUEUE": "q", "BLOCKING": "0"}, check: func(s workSettings) bool { return s.Blocking }},
		{name: "BLOCKING empty is on", env: map[string]string{"QUEUE": "q", "BLOCKING": ""}, check: func(s workSettings) bool { return s.Blocking }},
		{name: "--blocking=false wins", env: map[string]string{"QUEUE": "q", "BLOCKING": "1"}, flags: map[string]string{"blocking": "false"},
			check: func(s workSettings) bool { return !s.Blocking }},
		// INTERVAL through empty(): "" and "0" mean the default 5; fractions allowed.
		{name: "INTERVAL=0 is the default", env: map[string]string{"QUEUE": "q", "INTERVAL": "0"}, check: func(s workSettings) bool { return s.Interval == 5*time.Second }},
		{name: "INTERVAL empty is the default", env: map[string]string{"QUEUE": "q", "INTERVAL": ""}, check: func(s workSettings) bool { return s.Interval == 5*time.Second }},
		{name: "INTERVAL=0.25", env: map[string]string{"QUEUE": "q", "INTERVAL": "0.25"}, check: func(s workSettings) bool { return s.Interval == 250*time.Millisecond }},
		{name: "INTERVAL=0.0 polling is refused", env: map[string]string{"QUEUE": "q", "INTERVAL": "0.0"}, err: "busy loop"},
		{name: "INTERVAL=0.0 blocking is allowed", env: map[string]string{"QUEUE": "q", "INTERVAL": "0.0", "BLOCKING": "1"}, check: func(s workSettings) bool { return s.Interval > 0 }},
		{name: "INTERVAL=abc", env: map[string]string{"QUEUE": "q", "INTERVAL": "abc"}, err: `INTERVAL="abc"`},
		{name: "INTERVAL=-1", env: map[string]string{"QUEUE": "q", "INTERVAL": "-1"}, err: `INTERVAL="-1"`},
		{name: "--interval wins over INTERVAL", env: map[string]string{"QUEUE": "q", "INTERVAL": "9"}, flags: map[string]string{"interval": "2"},
			check: func(s workSettings) bool { return s.Interval == 2*time.Second }},
		// COUNT: above 1 starts that many processes; 0, 1, negative mean one.
		{name: "COUNT=3", env: map[string]string{"QUEUE": "q", "COUNT": "3"}, check: func(s workSettings) bool { return s.Count == 3 }},
		{name: "COUNT=0", env: map[string]string{"QUEUE": "q", "COUNT": "0"}, check: func(s workSettings) bool { return s.Count == 1 }},
		{name: "COUNT=-2", env: map[string]string{"QUEUE": "q", "COUNT": "-2"}, check: func(s workSettings) bool { return s.Count == 1 }},
		{name: "COUNT=two", env: map[string]string{"QUEUE": "q", "COUNT": "two"}, err: `COUNT="two"`},
		// PREFIX through empty(): "0" is no prefix.
		{name: "PREFIX=myapp", env: map[string]string{"QUEUE": "q", "PREFIX": "myapp"}, check: func(s workSettings) bool { return s.Prefix == "myapp" }},
		{name: "PREFIX=0 is the default", env: map[string]string{"QUEUE": "q", "PREFIX": "0"}, check: func(s workSettings) bool { return s.Prefix == "resque" }},
		// LOGGING/VERBOSE/VVERBOSE through empty().
		{name: "LOGGING=1", env: map[string]string{"QUEUE": "q", "LOGGING": "1"}, check: func(s workSettings) bool { return s.Verbose && !s.VVerbose }},
		{name: "VERBOSE=0 is off", env: map[string]string{"QUEUE": "q", "VERBOSE": "0"}, check: func(s workSettings) bool { return !s.Verbose }},
		{name: "LOGGING=0 with VERBOSE=1 is on", env: map[string]string{"QUEUE": "q", "LOGGING": "0", "VERBOSE": "1"}, check: func(s workSettings) bool { return s.Verbose }},
		{name: "--verbose=false wins over VERBOSE=1", env: map[string]string{"QUEUE": "q", "VERBOSE": "1"}, flags: map[string]string{"verbose": "false"},
			check: func(s workSettings) bool { return !s.Verbose }},
		{name: "--verbose", env: map[string]string{"QUEUE": "q"}, flags: map[string]string{"verbose": "true"}, check: func(s workSettings) bool { return s.Verbose }},
		{name: "VVERBOSE=yes", env: map[string]string{"QUEUE": "q", "VVERBOSE": "yes"}, check: func(s workSettings) bool { return s.VVerbose }},
		// Redis.
		{name: "REDIS_BACKEND_DB", env: map[string]string{"QUEUE": "q", "REDIS_BACKEND": "10.0.0.5:6380", "REDIS_BACKEND_DB": "3"},
			check: func(s workSettings) bool { return s.Redis.Backend == "10.0.0.5:6380" && s.Redis.DB == 3 }},
		{name: "REDIS_BACKEND_DB=x", env: map[string]string{"QUEUE": "q", "REDIS_BACKEND_DB": "x"}, err: `REDIS_BACKEND_DB="x"`},
		{name: "REDIS_PASSWORD_FILE wins over REDIS_PASSWORD", env: map[string]string{"QUEUE": "q", "REDIS_PASSWORD": "env", "REDIS_PASSWORD_FILE": "/nonexistent/pw"},
			err: `REDIS_PASSWORD_FILE="/nonexistent/pw": open /nonexistent/pw`},
		{name: "--tls-insecure-skip-verify=false wins", env: map[string]string{"QUEUE": "q", "REDIS_TLS_INSECURE_SKIP_VERIFY": "1"},
			flags: map[string]string{"tls-insecure-skip-verify": "false"}, check: func(s workSettings) bool { return !s.Redis.TLS.InsecureSkipVerify }},
		{name: "TLS cert without key", env: map[string]string{"QUEUE": "q", "REDIS_TLS_CERT_FILE": "c.pem"}, err: "go together"},
		// goresque's own settings.
		{name: "dialect php-resque-1", env: map[string]string{"QUEUE": "q", "GORESQUE_DIALECT": "chrisboulton"},
			check: func(s workSettings) bool { return s.Dialect == resque.DialectPHPResque1 }},
		{name: "PHP off", env: map[string]string{"QUEUE": "q", "GORESQUE_PHP": "off"}, check: func(s workSettings) bool { return s.PHP.Off }},
		{name: "PHP per job, limits", env: map[string]string{"QUEUE": "q", "GORESQUE_PHP": "job", "GORESQUE_PHP_TIMEOUT": "1m30s",
			"GORESQUE_PHP_MAX_MEMORY": "256", "GORESQUE_PHP_ARGS": "-d memory_limit=512M  -n"},
			check: func(s workSettings) bool {
				return s.PHP.Mode == compat.ModePerJob && s.PHP.Timeout == 90*time.Second && s.PHP.MaxMemory == 256<<20 &&
					strings.Join(s.PHP.Args, "|") == "-d|memory_limit=512M|-n"
			}},
		{name: "PHP pool", env: map[string]string{"QUEUE": "q", "GORESQUE_PHP_POOL": "3"}, check: func(s workSettings) bool { return s.PHP.Pool == 3 }},
		{name: "PHP pool negative", env: map[string]string{"QUEUE": "q", "GORESQUE_PHP_POOL": "-1"}, err: "GORESQUE_PHP_POOL"},
		{name: "PHP isolation typo", env: map[string]string{"QUEUE": "q", "GORESQUE_PHP_ISOLATION": "forks"}, err: "GORESQUE_PHP_ISOLATION"},
		{name: "shutdown timeout", env: map[string]string{"QUEUE": "q", "GORESQUE_SHUTDOWN_TIMEOUT": "2.5"},
			check: func(s workSettings) bool { return s.ShutdownTimeout == 2500*time.Millisecond }},
		{name: "dead jobs requeue", env: map[string]string{"QUEUE": "q", "GORESQUE_DEAD_JOBS": "requeue"},
			check: func(s workSettings) bool { return s.DeadJobs == resque.RequeueDeadJobs }},
		{name: "heartbeat and prune", env: map[string]string{"QUEUE": "q", "GORESQUE_HEARTBEAT_INTERVAL": "5", "GORESQUE_PRUNE_AFTER": "30s"},
			check: func(s workSettings) bool { return s.Heartbeat == 5*time.Second && s.PruneAfter == 30*time.Second }},
		{name: "retry", env: map[string]string{"QUEUE": "q", "GORESQUE_RETRY": `App\Jobs\SendMail=5:exp:10s;Other=3:fixed:1m`},
			check: func(s workSettings) bool {
				m := resque.NewMux()
				for c, r := range s.Retries {
					m.SetRetry(c, r)
				}
				r, ok := m.RetryPolicy(`\app\jobs\SENDMAIL`)
				o, ok2 := m.RetryPolicy("Other")
				return len(s.Retries) == 2 && ok && r.Attempts == 5 && r.Backoff(2) == 20*time.Second && ok2 && o.Attempts == 3
			}},
		{name: "retry typo", env: map[string]string{"QUEUE": "q", "GORESQUE_RETRY": "A=3:fixd:1s"}, err: "GORESQUE_RETRY"},
		{name: "route", env: map[string]string{"QUEUE": "q", "GORESQUE_ROUTE": `App\Jobs\SendMail=go:10%;Other=php`},
			check: func(s workSettings) bool {
				return len(s.Routes) == 2 && s.Routes[`App\Jobs\SendMail`] == 10 && s.Routes["Other"] == 0
			}},
		{name: "route typo", env: map[string]string{"QUEUE": "q", "GORESQUE_ROUTE": "A=go:10%%"}, err: `GORESQUE_ROUTE="A=go:10%%"`},
		{name: "concurrency 0", env: map[string]string{"QUEUE": "q", "GORESQUE_CONCURRENCY": "0"}, err: "GORESQUE_CONCURRENCY"},
		{name: "class stats default", env: map[string]string{"QUEUE": "q"}, check: func(s workSettings) bool { return s.ClassStats == 1000 }},
		{name: "class stats 50", env: map[string]string{"QUEUE": "q", "GORESQUE_CLASS_STATS": "50"}, check: func(s workSettings) bool { return s.ClassStats == 50 }},
		{name: "class stats off", env: map[string]string{"QUEUE": "q", "GORESQUE_CLASS_STATS": "0"}, check: func(s workSettings) bool { return s.ClassStats < 0 }},
		{name: "class stats negative", env: map[string]string{"QUEUE": "q", "GORESQUE_CLASS_STATS": "-3"}, err: "GORESQUE_CLASS_STATS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			flags := tc.flags
			if flags == nil {
				flags = map[string]string{}
			}
			s, err := readWorkSettings(source{env: env, flags: flags})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(s) {
				t.Errorf("settings: %+v", s)
			}
		})
	}
}

func TestPHPPoolSize(t *testing.T) {
	cpus := runtime.NumCPU()
	for _, tc := range []struct{ pool, slots, want int }{
		{0, 50, min(cpus, 50)}, {0, 1, 1}, {3, 50, 3}, {8, 2, 2},
	} {
		if got := phpPoolSize(tc.pool, tc.slots); got != tc.want {
			t.Errorf("phpPoolSize(%d, %d) = %d, want %d", tc.pool, tc.slots, got, tc.want)
		}
	}
}
