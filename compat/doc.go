// Package compat is goresque's PHP bridge: it runs job classes that have no Go handler yet
// as the PHP classes they are, with the semantics php-resque's worker gives them, so a team
// can move every worker to goresque on day one and port classes at leisure.
//
// A PHP is a resque.Handler; goresque's command line installs it as the Mux's fallback:
//
//	mux.Fallback(php) // every class without a Go handler
//
// # Process models
//
// ModePerJob starts a fresh `php` for every job: the isolation php-resque's fork gives, at
// the cost of PHP's start-up and the application's bootstrap every time.
//
// ModePool keeps long-lived `php` processes that load the application once and take jobs
// over a pipe. With IsolationFork (the default) each job runs in a child forked from the
// warm process, as php-resque forks per job (and ended without PHP's teardown once its
// shutdown functions and destructors have run: runner.php's quickExit says why); with
// IsolationNone it runs in the warm process
// itself (fastest; state carries over between jobs, as with RoadRunner). Processes are
// recycled after MaxJobs jobs, above MaxMemory, after TTL, or when they die. The pool is
// lazy: the first PHP job starts the first warm process, and one idle for IdleTimeout
// exits. In both models at most PoolSize PHP jobs run at once.
//
// # The child-process contract
//
// The embedded php/runner.php is the PHP side. goresque passes the job on the process's
// stdin and reads the outcome on file descriptor 3, never on argv and never through a
// shell; each message is "<length>\n<JSON>". The job's own stdout and stderr are logged with
// the job's id, line by line; after each job the runner writes a random end mark on both
// streams before its reply, so a last line without a newline is logged when the job ends
// and no line is attributed to the next job (output.go). Every process runs in its own process group, so a timeout, SIGUSR1 or
// SIGTERM kills the job and everything it started (SIGTERM, then SIGKILL after KillGrace).
//
// Outcomes map onto php-resque's records: an exception becomes a failure with the PHP
// class, message and getTraceAsString() lines; Resque_Job_DontPerform is "not performed";
// a fatal error, exit(N) or a killed process is Resque_Job_DirtyExitException ("Job exited
// with exit code N", or "Job exited abnormally"); perform()'s return value is the v1.3.6
// status result.
package compat
