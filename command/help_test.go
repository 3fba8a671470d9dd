package command

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/help")

// TestHelpGolden pins `goresque --help` and each command's help, made from settingsTable:
// a setting added, renamed or reworded shows here. go test ./command -run HelpGolden
// -update rewrites the files; review the diff.
func TestHelpGolden(t *testing.T) {
	cases := map[string][]string{"goresque": {"--help"}}
	for _, c := range newApp(nil, nil, nil, nil, new(int)).Commands {
		cases[c.Name] = []string{"help", c.Name}
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(context.Background(), append([]string{"goresque"}, args...), &out, &errb, noEnv, nil)
			if code != 0 || errb.Len() > 0 {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
			// The version depends on the build.
			got := regexp.MustCompile(`(?m)^(VERSION:\n   ).*$`).ReplaceAllString(out.String(), "${1}(version)")
			file := filepath.Join("testdata", "help", name+".txt")
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (go test ./command -run HelpGolden -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the help; first difference:\n%s", file, firstDiff(string(want), got))
			}
		})
	}
}

func noEnv(string) (string, bool) { return "", false }

// firstDiff names the first line where want and got differ.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + w + "\ngot:  " + g
		}
	}
	return ""
}

// TestREADMENamesEverySetting: the README's settings tables are the one place settings
// are written outside settingsTable; each setting's variables and flag must appear there,
// on one table row.
func TestREADMENamesEverySetting(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `") {
			rows = append(rows, line)
		}
	}
	for _, st := range settingsTable() {
		found := false
		for _, row := range rows {
			ok := strings.Contains(row, "`"+st.env[0]+"`")
			for _, e := range st.env[1:] {
				ok = ok && strings.Contains(row, "`"+e+"`")
			}
			if st.flag != "" {
				ok = ok && strings.Contains(row, "`--"+st.flag+"`")
			}
			if ok {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("README.md has no settings table row naming %v and --%s", st.env, st.flag)
		}
	}
}
