// Package interop finds and starts the real Resque implementations goresque's interop
// tests run beside it: php-resque 1.x and 1.3.6 and Ruby resque 2.7.0 from
// ../shared/thirdparty (relative to the module root), node-resque 9.7.1 from the folder
// scripts/setup.sh installs it into.
//
// What is missing makes the test skip, saying why, except under CI=true, where it fails:
// an interop test that skips in CI tests nothing.
package interop

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// missing skips the test outside CI and fails it in CI.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("interop: "+format+" (required under CI=true; scripts/setup.sh installs it)", args...)
	}
	t.Skipf("interop: "+format+" (skipped outside CI)", args...)
}

// Root returns the module root: the nearest directory above the test's with a go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("interop: no go.mod above the test directory")
		}
		dir = parent
	}
}

// ThirdParty returns the absolute path of ../shared/thirdparty/<sub>.
func ThirdParty(t testing.TB, sub string) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(Root(t)), "shared", "thirdparty", sub)
	if _, err := os.Stat(dir); err != nil {
		missing(t, "%s is missing", dir)
	}
	return dir
}

// Need checks that a program is installed.
func Need(t testing.TB, program string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		missing(t, "%s is not installed", program)
	}
}

// NodeResqueDir is where scripts/setup.sh installs node-resque: $NODE_RESQUE_DIR, else
// <user cache dir>/goresque/node-resque (npm install --prefix DIR node-resque@9.7.1).
func NodeResqueDir() string {
	if d := os.Getenv("NODE_RESQUE_DIR"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cache, "goresque", "node-resque")
}

// NodeModules returns the node_modules folder holding node-resque, for NODE_PATH.
func NodeModules(t testing.TB) string {
	t.Helper()
	Need(t, "node")
	dir := filepath.Join(NodeResqueDir(), "node_modules")
	if _, err := os.Stat(filepath.Join(dir, "node-resque", "package.json")); err != nil {
		missing(t, "node-resque is not installed in %s", dir)
	}
	return dir
}

// RubyLib returns Ruby resque's lib/ after checking that ruby can load it (Debian's
// ruby-redis, ruby-redis-namespace, ruby-mono-logger, ruby-multi-json).
func RubyLib(t testing.TB) string {
	t.Helper()
	Need(t, "ruby")
	lib := filepath.Join(ThirdParty(t, "ruby-resque"), "lib")
	if out, err := exec.Command("ruby", "-I"+lib, "-e", `require "resque"`).CombinedOutput(); err != nil {
		missing(t, "ruby cannot load resque: %v: %s", err, out)
	}
	return lib
}

// Run runs a command to completion and returns its stdout; a failure fails the test
// with stderr.
func Run(t testing.TB, cmd *exec.Cmd) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		<-ctx.Done()
		if ctx.Err() == context.DeadlineExceeded && cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", strings.Join(cmd.Args, " "), err, out, stderr.String())
	}
	return out
}

// Process is a long-running process the test stops at cleanup.
type Process struct {
	Cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
}

// Start starts cmd; its output is logged when the test fails. Cleanup sends SIGTERM, then
// SIGKILL after 5 s.
func Start(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(cmd.Args, " "), p.Output())
		}
	})
	return p
}

// Stop ends the process (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (p *Process) Stop() {
	_ = p.Cmd.Process.Signal(terminate)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Output is what the process wrote so far.
func (p *Process) Output() string { return p.out.String() }

// PHPResque returns a runnable php-resque tree for dialect "php-resque-1" or
// "php-resque-136": a folder in the test's temp dir holding a copy of the unmodified
// bin/resque, the real lib/ (a symlink into ../shared/thirdparty) and vendor/autoload.php,
// a stand-in for Composer's autoloader (the read-only trees have no Composer install)
// that loads lib/, ../credis and ../psrlog. bin/resque insists on Composer's ClassLoader
// class, so the stand-in declares an empty one.
func PHPResque(t testing.TB, dialect string) string {
	t.Helper()
	Need(t, "php")
	src := ThirdParty(t, dialect)
	credis, psrlog := ThirdParty(t, "credis"), ThirdParty(t, "psrlog")
	dir := filepath.Join(t.TempDir(), dialect)
	for _, d := range []string{"bin", "vendor"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(src, "lib"), filepath.Join(dir, "lib")); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(src, "bin", "resque"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "resque"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	autoload := `<?php
// Stand-in for Composer's autoloader, written by goresque's internal/interop.
namespace Composer\Autoload {
    if (!class_exists('Composer\Autoload\ClassLoader', false)) {
        class ClassLoader {}
    }
}
namespace {
    spl_autoload_register(function ($class) {
        $lib = ` + phpQuote(filepath.Join(src, "lib")) + `;
        $credis = ` + phpQuote(credis) + `;
        $psrlog = ` + phpQuote(psrlog) + `;
        if (strpos($class, 'Credis_') === 0) {
            $f = $credis . '/' . substr($class, 7) . '.php';
        } elseif (strpos($class, 'Psr\\Log\\') === 0) {
            $f = $psrlog . '/' . str_replace('\\', '/', $class) . '.php';
        } else {
            $f = $lib . '/' . str_replace(array('_', '\\'), '/', $class) . '.php';
        }
        if (file_exists($f)) {
            require_once $f;
        }
    });
}
`
	if err := os.WriteFile(filepath.Join(dir, "vendor", "autoload.php"), []byte(autoload), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func phpQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
