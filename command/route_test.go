package command

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
)

// goresque route: set, list (rule in force, source, deployed default), reset, and the
// revision bumped at each change (what the workers watch).
func TestRouteCommand(t *testing.T) {
	o := newOpCLI(t)
	o.env["GORESQUE_ROUTE"] = `App\Jobs\SendMail=go:10%;Legacy=php`
	if out := o.ok("route"); !strings.Contains(out, "App\\Jobs\\SendMail  go:10%  GORESQUE_ROUTE  go:10%") || !strings.Contains(out, "Legacy") {
		t.Errorf("list of the deployed defaults:\n%s", out)
	}
	if out := o.ok("route", `\app\jobs\sendmail`, "go:25%"); !strings.Contains(out, "go:25%") {
		t.Errorf("set: %s", out)
	}
	if got, _ := redis.StringMap(o.conn.Do("HGETALL", o.ns+"goresque:routes")); len(got) != 1 || got[`app\jobs\sendmail`] != "go:25%" {
		t.Errorf("goresque:routes = %v", got)
	}
	var rows []routeRow
	if err := json.Unmarshal([]byte(o.ok("route", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Class != `App\Jobs\SendMail` || rows[0].Rule != "go:25%" || rows[0].GoShare != 25 ||
		rows[0].Source != "goresque route" || rows[0].Deployed != "go:10%" || rows[1].Class != "Legacy" || rows[1].Rule != "php" {
		t.Errorf("route --json: %+v", rows)
	}
	o.ok("route", `App\Jobs\SendMail`, "php")
	o.ok("route", "Other", "go")
	if out := o.ok("route", `App\Jobs\SendMail`, "--reset"); !strings.Contains(out, "reset to the deployed default go:10% (GORESQUE_ROUTE)") {
		t.Errorf("reset: %s", out)
	}
	if got, _ := redis.StringMap(o.conn.Do("HGETALL", o.ns+"goresque:routes")); len(got) != 1 || got["Other"] != "go" {
		t.Errorf("after reset, goresque:routes = %v", got)
	}
	if rev, _ := redis.Int(o.conn.Do("GET", o.ns+"goresque:routes:rev")); rev != 4 {
		t.Errorf("goresque:routes:rev = %d after 4 changes", rev)
	}
	for _, args := range [][]string{{"route", "A", "go:150%"}, {"route", "A"}, {"route", "--reset"}, {"route", "A", "go", "x"}} {
		if code, _, errs := o.runCtx(context.Background(), args...); code != exitUsage {
			t.Errorf("goresque %s: exit %d, want 2: %s", strings.Join(args, " "), code, errs)
		}
	}
	// goresque status of a routed job names the side that ran it.
	o.do("SET", o.ns+"job:0123456789abcdef0123456789abcdef:status", `{"status":4,"updated":1795727998,"started":1795727997,"result":null,"goresque_impl":"php"}`)
	if out := o.ok("status", "0123456789abcdef0123456789abcdef"); !strings.Contains(out, "ran in:   php\n") {
		t.Errorf("status of a routed job:\n%s", out)
	}
	// A GORESQUE_ROUTE typo: exit 2 with the message, for route and for work.
	o.env["GORESQUE_ROUTE"] = "A=rust"
	o.env["QUEUE"] = "q"
	for _, cmd := range []string{"route", "work"} {
		code, _, errs := o.runCtx(context.Background(), cmd)
		if code != exitUsage || !strings.Contains(errs, `GORESQUE_ROUTE="A=rust"`) || !strings.Contains(errs, "want go, php or go:N%") {
			t.Errorf("%s with GORESQUE_ROUTE=A=rust: exit %d: %s", cmd, code, errs)
		}
	}
}
