package command

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
)

// TestREADMEPortingExampleBuilds: the README's "Porting a job to Go" program did not
// compile as shown (sendMail was not defined there), and the README said neither how to
// get the module nor how to set the binary's version. The test takes the Go block and the
// -ldflags line from the README as a reader copies them, builds the program in a module
// of its own (the goresque module replaced by this checkout) and runs `--version`.
func TestREADMEPortingExampleBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program (-short)")
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## Porting a job to Go")
	if start < 0 {
		t.Fatal(`README.md has no "## Porting a job to Go" section`)
	}
	section := text[start:]
	if next := strings.Index(section[3:], "\n## "); next >= 0 {
		section = section[:next+3]
	}
	program := regexp.MustCompile("(?s)```go\n(.*?)```").FindStringSubmatch(section)
	if program == nil {
		t.Fatal("no ```go block in the section")
	}
	if !strings.Contains(section, "go get github.com/goresque/goresque") {
		t.Error("the section does not say how to get the module (go get github.com/goresque/goresque)")
	}
	ldflags := regexp.MustCompile(`go build -ldflags "(-X github.com/goresque/goresque/command.Version=(\S+))"`).FindStringSubmatch(section)
	if ldflags == nil {
		t.Fatal(`the section does not show go build -ldflags "-X github.com/goresque/goresque/command.Version=..."`)
	}

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", program[1])
	// What `go get` writes: goresque and its requirements, with their sums; offline, the
	// versions goresque itself uses.
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	requires := regexp.MustCompile(`(?s)require \(.*?\)\n`).FindAllString(string(mod), -1)
	write("go.mod", "module example.com/jobs\n\ngo 1.26\n\nrequire github.com/goresque/goresque v0.0.0\n\n"+
		strings.Join(requires, "\n")+"\nreplace github.com/goresque/goresque => "+root+"\n")
	write("go.sum", string(sum))
	goCmd := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// Offline: everything the program needs is what goresque needs.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	goCmd("build", "-ldflags", ldflags[1], "-o", "jobs", ".")
	out, err := exec.Command(filepath.Join(dir, "jobs"), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("jobs --version: %v\n%s", err, out)
	}
	if want := "goresque version " + ldflags[2] + "\n"; string(out) != want {
		t.Errorf("jobs --version printed %q, want %q", out, want)
	}
	runMigrationGuide(t, text, root, dir)
}

// runMigrationGuide runs the README's "Migrating a class" block as written, in the
// directory of the program built above (./jobs), with goresque's testdata beside it (the
// guide's APP_INCLUDE), against the package's redis-server: the worker line (ending in &) in
// the background, the others one by one, each of which must succeed. The job it enqueues
// must be performed, `jobs route` must print the README's sample, and the last rule (the
// rollback) must be the one in Redis.
func runMigrationGuide(t *testing.T, readme, root, bin string) {
	t.Helper()
	needPHPForChaos(t)
	start := strings.Index(readme, "## Migrating a class")
	if start < 0 {
		t.Fatal(`README.md has no "## Migrating a class" section`)
	}
	section := readme[start:]
	if next := strings.Index(section[3:], "\n## "); next >= 0 {
		section = section[:next+3]
	}
	blocks := regexp.MustCompile("(?s)```(sh)?\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 2 || blocks[0][1] != "sh" {
		t.Fatal("the section wants a ```sh block of commands, then the ``` output of jobs route")
	}
	srv := server(t)
	ns := redistest.Namespace(t)
	if err := os.Symlink(filepath.Join(root, "testdata"), filepath.Join(bin, "testdata")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "REDIS_BACKEND="+srv.Socket, "PREFIX="+strings.TrimSuffix(ns, ":"))
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var worker *exec.Cmd
	var logs lockedBuffer
	defer func() {
		if worker != nil {
			// SIGQUIT to the process group: the worker stops gracefully (sh, which may
			// not exec it, dies of the signal).
			_ = syscall.Kill(-worker.Process.Pid, syscall.SIGQUIT)
			_ = worker.Wait()
			if !strings.Contains(logs.String(), `"worker stopped"`) {
				t.Errorf("the guide's worker did not stop on SIGQUIT:\n%s", logs.String())
			}
		}
	}()
	enqueued := 0
	for _, line := range strings.Split(blocks[0][2], "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if bg, ok := strings.CutSuffix(line, "&"); ok {
			worker = exec.Command("sh", "-c", bg)
			worker.Dir, worker.Env = bin, env
			worker.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			worker.Stdout, worker.Stderr = &logs, &logs
			if err := worker.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("worker output:\n%s", logs.String())
				}
			})
			continue
		}
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir, cmd.Env = bin, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		if strings.Contains(line, " enqueue ") {
			enqueued++
		}
		if strings.HasSuffix(line, "./jobs route") {
			if want := blocks[1][2]; string(out) != want {
				t.Errorf("%s printed\n%s\nthe README shows\n%s", line, out, want)
			}
		}
	}
	if worker == nil || enqueued == 0 {
		t.Fatal("the guide starts no worker or enqueues no job")
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n, _ := redis.Int(conn.Do("GET", ns+"stat:processed")); n == enqueued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guide's worker did not perform the %d job(s) it enqueued", enqueued)
		}
	}
	if rules, err := redis.StringMap(conn.Do("HGETALL", ns+"goresque:routes")); err != nil || len(rules) != 1 || rules[`App\Jobs\SendMail`] != "php" {
		t.Errorf("after the guide, goresque:routes = %v (%v), want the rollback", rules, err)
	}
}
