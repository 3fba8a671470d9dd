package resque

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
)

// opEnv is one test's namespace on the package's Redis, with a Client and a connection.
type opEnv struct {
	t      *testing.T
	pool   *redis.Pool
	conn   redis.Conn
	ns     string
	client *Client
}

func newOpEnv(t *testing.T, d Dialect) *opEnv {
	t.Helper()
	srv := server(t)
	return newOpEnvOn(t, srv, d)
}

func newOpEnvOn(t *testing.T, srv *redistest.Server, d Dialect) *opEnv {
	t.Helper()
	pool := srv.Pool()
	t.Cleanup(func() { pool.Close() })
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ns := redistest.Namespace(t)
	return &opEnv{t: t, pool: pool, conn: conn, ns: ns, client: NewClient(pool, ClientConfig{Namespace: ns, Dialect: d})}
}

func (e *opEnv) do(cmd string, args ...any) any {
	e.t.Helper()
	v, err := e.conn.Do(cmd, args...)
	if err != nil {
		e.t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return v
}

func (e *opEnv) list(key string) []string {
	e.t.Helper()
	v, err := redis.Strings(e.conn.Do("LRANGE", e.ns+key, 0, -1))
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// thirdParty returns ../shared/thirdparty (relative to the module root) and checks php; it
// skips outside CI when either is missing, and fails under CI=true.
func thirdParty(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("..", "..", "shared", "thirdparty"))
	_, statErr := os.Stat(filepath.Join(dir, "php-resque-scheduler", "lib", "ResqueScheduler.php"))
	_, phpErr := exec.LookPath("php")
	if statErr == nil && phpErr == nil {
		return dir
	}
	err := errors.Join(statErr, phpErr)
	if os.Getenv("CI") == "true" {
		t.Fatalf("real php-resque (../shared/thirdparty) and php are needed under CI=true: %v", err)
	}
	t.Skipf("needs ../shared/thirdparty and php: %v", err)
	return ""
}

// phpTool runs testdata/operate/php.php: real php-resque and php-resque-scheduler.
type phpTool struct {
	t       *testing.T
	root    string
	dialect Dialect
	backend string
	prefix  string
}

// newPHPEnv starts a TCP redis-server for PHP (Credis speaks TCP) and returns an opEnv and
// a phpTool on the same namespace.
func newPHPEnv(t *testing.T, d Dialect) (*opEnv, *phpTool) {
	t.Helper()
	root := thirdParty(t)
	srv := redistest.StartTB(t, redistest.Options{TCP: true})
	e := newOpEnvOn(t, srv, d)
	return e, &phpTool{t: t, root: root, dialect: d, backend: "127.0.0.1:" + strconv.Itoa(srv.Port), prefix: e.ns}
}

func (p *phpTool) cmd(action string, args ...string) *exec.Cmd {
	script, _ := filepath.Abs(filepath.Join("..", "testdata", "operate", "php.php"))
	a := append([]string{"-d", "error_reporting=22527", script, p.root, p.dialect.String(), p.backend, p.prefix, action}, args...)
	return exec.Command("php", a...)
}

func (p *phpTool) run(action string, args ...string) json.RawMessage {
	p.t.Helper()
	out, err := p.cmd(action, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.t.Fatalf("php %s %v: %v: %s%s", action, args, err, out, ee.Stderr)
		}
		p.t.Fatalf("php %s: %v", action, err)
	}
	return out
}

var bg = context.Background()
