package command

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
}
