package resque

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Dequeue removes what real php-resque's Resque::dequeue removes, from the same queue.
func TestDequeueMatchesPHPResque(t *testing.T) {
	type tc struct {
		name  string
		items string // Resque::dequeue's $items as JSON
		class string
		args  func(ids []string) any
	}
	cases := []tc{
		{"by class", `["Job_A"]`, "Job_A", nil},
		{"by id", `{"Job_A":"%s"}`, "Job_A", func(ids []string) any { return ids[2] }},
		{"by args", `{"Job_A":{"x":1,"y":"two"}}`, "Job_A", func([]string) any { return map[string]any{"x": 1, "y": "two"} }},
		{"by args list", `{"Job_B":[1,"two",3.5]}`, "Job_B", func([]string) any { return []any{1, "two", 3.5} }},
		{"whole queue", `[]`, "", nil},
	}
	for _, d := range []Dialect{DialectPHPResque1, DialectPHPResque136} {
		for _, c := range cases {
			t.Run(d.String()+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				e, php := newPHPEnv(t, d)
				seed := func(c *Client) []string {
					var ids []string
					for i, a := range []any{
						map[string]any{"x": 1}, map[string]any{"x": 1, "y": "two"}, map[string]any{"x": 2},
						nil, map[string]any{"x": "1"}, map[string]any{"x": 1, "y": "two", "z": 3},
					} {
						for _, cl := range []string{"Job_A", "Job_B"} {
							id, err := c.Enqueue(bg, "q", cl, a, EnqueueOptions{})
							if err != nil {
								t.Fatal(err)
							}
							if cl == "Job_A" {
								ids = append(ids, id)
							}
						}
						if i == 3 {
							id, _ := c.Enqueue(bg, "q", "Job_B", []any{"two", 1}, EnqueueOptions{})
							_ = id
						}
					}
					return ids
				}
				ids := seed(e.client)
				items := c.items
				if strings.Contains(items, "%s") {
					items = fmt.Sprintf(items, ids[2])
				}
				before := e.list("queue:q")
				var phpN int
				if err := json.Unmarshal(php.run("dequeue", "q", items), &phpN); err != nil {
					t.Fatal(err)
				}
				phpLeft := e.list("queue:q")
				// Same queue again for goresque.
				e.do("DEL", e.ns+"queue:q")
				args := []any{e.ns + "queue:q"}
				for _, b := range before {
					args = append(args, b)
				}
				e.do("RPUSH", args...)
				var a any
				if c.args != nil {
					a = c.args(ids)
				}
				n, err := e.client.Dequeue(bg, "q", c.class, a)
				if err != nil {
					t.Fatal(err)
				}
				left := e.list("queue:q")
				if int(n) != phpN || strings.Join(left, "\n") != strings.Join(phpLeft, "\n") {
					t.Errorf("goresque removed %d, left\n%s\nphp-resque removed %d, left\n%s", n, strings.Join(left, "\n"), phpN, strings.Join(phpLeft, "\n"))
				}
				if phpN == 0 && c.name != "whole queue" {
					t.Errorf("the case removes nothing: not a test")
				}
			})
		}
	}
}

// Dequeue while a worker pops and producers push: every job is either removed by Dequeue
// or popped, never both, never neither; no job is hidden from the workers meanwhile.
func TestDequeueWhilePopping(t *testing.T) {
	t.Parallel()
	e := newOpEnv(t, DialectPHPResque1)
	const n = 5000
	args := []any{e.ns + "queue:q"}
	for i := 0; i < n; i++ {
		cl := "Keep"
		if i%3 == 0 {
			cl = "Drop"
		}
		args = append(args, `{"class":"`+cl+`","args":[{"i":`+strconv.Itoa(i)+`}]}`)
	}
	e.do("RPUSH", args...)
	var popped []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := server(t).Dial()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for i := 0; i < 1500; i++ {
			v, err := c.Do("LPOP", e.ns+"queue:q")
			if err != nil || v == nil {
				return
			}
			popped = append(popped, string(v.([]byte)))
		}
	}()
	// Meanwhile producers push: negative indexes move, and Dequeue finds the items anyway.
	const pushed = 1500
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := server(t).Dial()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for i := 0; i < pushed; i++ {
			if _, err := c.Do("RPUSH", e.ns+"queue:q", `{"class":"Keep","args":[{"new":`+strconv.Itoa(i)+`}]}`); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	removed, err := e.client.Dequeue(bg, "q", "Drop", nil)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	left := e.list("queue:q")
	poppedDrop := 0
	for _, p := range popped {
		if strings.Contains(p, `"Drop"`) {
			poppedDrop++
		}
	}
	for _, l := range left {
		if strings.Contains(l, `"Drop"`) {
			t.Fatalf("a Drop job is left: %s", l)
		}
	}
	if int(removed)+poppedDrop != (n+2)/3 || len(left)+len(popped)+int(removed) != n+pushed {
		t.Errorf("removed %d, popped %d (%d Drop), left %d; want %d Drop in all, %d jobs", removed, len(popped), poppedDrop, len(left), (n+2)/3, n+pushed)
	}
}

func TestPHPStringOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`"a/b"`: "a/b", `1`: "1", `-7`: "-7", `1.0`: "1", `3.5`: "3.5", `0.1`: "0.1", `1e20`: "1.0E+20",
		`1.5e-7`: "1.5E-7", `123456789012345678901`: "1.2345678901235E+20", `1e14`: "1.0E+14", `12345678901234.0`: "12345678901234", `0.30000000000000004`: "0.3", `1e-5`: "1.0E-5", `true`: "1", `false`: "",
		`null`: "", `[1]`: "Array", `{"a":1}`: "Array", `0.0001`: "0.0001", `1234567.5`: "1234567.5",
	} {
		if got := phpStringOf(json.RawMessage(in)); got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}
