package command

// TLS and ACL against a real redis-server: a throwaway CA, server and client certificates
// made with crypto/x509 at test time, redis-server started with --tls-port (and --port 0)
// or with an ACL user, and goresque reaching it through newPool + checkRedis and through
// the command line (enqueue, queues, status, work), in-process and as a real process.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
)

// aclUser and aclPassword are the ACL user the ACL servers know; the default user is off.
const (
	aclUser     = "alice"
	aclPassword = "s3cret"
)

// testPKI is a throwaway CA and the certificates it issued, as PEM files in a temporary
// directory.
type testPKI struct {
	dir    string
	CAFile string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: "goresque test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key}
	p.CAFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func randomSerial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue writes a certificate signed by the CA and its key; it returns the two files.
func (p *testPKI) issue(t *testing.T, name string, usage x509.ExtKeyUsage, dnsNames []string, ips []net.IP) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "PRIVATE KEY", keyDER)
}

// localServerCert is a server certificate for 127.0.0.1 and localhost.
func (p *testPKI) localServerCert(t *testing.T) (certFile, keyFile string) {
	return p.issue(t, "server", x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
}

// clientCert is a client certificate signed by the CA.
func (p *testPKI) clientCert(t *testing.T) (certFile, keyFile string) {
	return p.issue(t, "client", x509.ExtKeyUsageClientAuth, nil, nil)
}

// aclArgs are redis-server arguments for the ACL user alice, the default user off. Each
// rule is its own argument: redis-server 7.0 quotes a single "alice on >pw ~* ..." argument
// as one token and exits with "Spaces not allowed in ACL usernames".
func aclArgs() []string {
	return []string{"--user", "default", "off", "--user", aclUser, "on", ">" + aclPassword, "~*", "&*", "+@all"}
}

// startTCPRedis starts a private redis-server listening on a free loopback port: with
// TLS on that port only (--tls-port, with --port 0) when certFile is set, else plain TCP.
// It uses redistest.Start, which also opens a plaintext unix socket and waits for PING on
// it (NOAUTH counts as up); redis-server binds every listener before it serves the
// socket, so the TCP port is ready too, which is checked with a dial. A port taken
// between choosing and binding is retried. It returns the server and the port.
func startTCPRedis(t *testing.T, certFile, keyFile, caFile string, extra ...string) (*redistest.Server, int) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port, err := redistest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		var args []string
		if certFile != "" {
			args = []string{"--port", "0", "--tls-port", strconv.Itoa(port),
				"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile,
				"--tls-auth-clients", "no"}
		} else {
			args = []string{"--port", strconv.Itoa(port)}
		}
		srv, err := redistest.Start(redistest.Options{Args: append(args, extra...)})
		if err != nil {
			if attempt < 5 && (strings.Contains(err.Error(), "in use") || strings.Contains(err.Error(), "listening")) {
				continue
			}
			redistest.Unavailable(t, err)
		}
		t.Cleanup(srv.Stop)
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
		if err != nil {
			t.Fatalf("redis-server answers on its socket but not on port %d: %v", port, err)
		}
		c.Close()
		return srv, port
	}
}

// cliEnv is a test environment for Run and readRedisSettings; nothing comes from os.Environ.
type cliEnv map[string]string

func (e cliEnv) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

// with returns a copy of e with the given KEY=VALUE pairs set.
func (e cliEnv) with(kv ...string) cliEnv {
	out := cliEnv{}
	for k, v := range e {
		out[k] = v
	}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		out[k] = v
	}
	return out
}

// checkRedisWith goes through readRedisSettings, newPool and checkRedis, as every command does.
func checkRedisWith(t *testing.T, e cliEnv) error {
	t.Helper()
	r, err := readRedisSettings(source{env: e.lookup})
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	pool, display, err := newPool(r, 1)
	if err != nil {
		return err
	}
	defer pool.Close()
	if strings.Contains(display, aclPassword) {
		t.Errorf("display address %q shows the password", display)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return checkRedis(ctx, pool, display)
}

type cliRun struct {
	code           int
	stdout, stderr string
}

func (r cliRun) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// inProcCLIMu serialises this file's in-process runs of the command line up to the start of the
// command's action: Run is not safe for concurrent use. urfave/cli v2 writes package
// globals while it parses (helpCommand, HelpFlag), and so does goresque's shared jsonFlag;
// `go test -race` reports two concurrent Runs.
var inProcCLIMu sync.Mutex

// runCLIInProc runs the command line in-process with the environment e.
func runCLIInProc(ctx context.Context, e cliEnv, args ...string) cliRun {
	inProcCLIMu.Lock()
	defer inProcCLIMu.Unlock()
	var out, errb syncBuffer
	code := Run(ctx, append([]string{"goresque"}, args...), &out, &errb, e.lookup, testMux())
	return cliRun{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustRunCLI runs the command line and fails the test unless it exits 0.
func mustRunCLI(t *testing.T, e cliEnv, args ...string) cliRun {
	t.Helper()
	r := runCLIInProc(context.Background(), e, args...)
	if r.code != 0 {
		t.Fatalf("goresque %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// mustFailCLI runs the command line and checks the failure is one line on stderr naming
// pattern, exit status 1, nothing on stdout, and no secret anywhere.
func mustFailCLI(t *testing.T, e cliEnv, pattern string, secrets []string, args ...string) cliRun {
	t.Helper()
	r := runCLIInProc(context.Background(), e, args...)
	checkOneLineFailure(t, "goresque "+strings.Join(args, " "), r, pattern, secrets)
	return r
}

func checkOneLineFailure(t *testing.T, what string, r cliRun, pattern string, secrets []string) {
	t.Helper()
	if r.code != exitFailure {
		t.Errorf("%s: exit %d, want %d (%v)", what, r.code, exitFailure, r)
	}
	if r.stdout != "" {
		t.Errorf("%s: stdout %q, want nothing", what, r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("%s: stderr is not one line: %q", what, r.stderr)
	}
	if !regexp.MustCompile(pattern).MatchString(r.stderr) {
		t.Errorf("%s: stderr %q does not match %q", what, r.stderr, pattern)
	}
	for _, s := range secrets {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("%s: the password %q appears in the output: %v", what, s, r)
		}
	}
}

// enqueueWithCLI pushes a tracked Test_Ok job with `goresque enqueue` and checks that
// `goresque queues` and `goresque status` see it; it returns the job id.
func enqueueWithCLI(t *testing.T, e cliEnv, queue string) string {
	t.Helper()
	id := strings.TrimSpace(mustRunCLI(t, e, "enqueue", queue, "Test_Ok", `{"n":1}`, "--track").stdout)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("enqueue printed %q, want a job id", id)
	}
	var qs []resque.QueueInfo
	if err := json.Unmarshal([]byte(mustRunCLI(t, e, "queues", "--json").stdout), &qs); err != nil {
		t.Fatalf("queues --json: %v", err)
	}
	found := false
	for _, q := range qs {
		found = found || (q.Name == queue && q.Size >= 1)
	}
	if !found {
		t.Errorf("queues = %+v, want %s with a job", qs, queue)
	}
	if st := jobStatusCLI(t, e, id); st.Status != resque.StatusWaiting {
		t.Errorf("status of %s = %v, want waiting", id, st.Status)
	}
	return id
}

// jobStatusCLI reads a job's status with `goresque status ID --json`.
func jobStatusCLI(t *testing.T, e cliEnv, id string) resque.JobStatus {
	t.Helper()
	var st resque.JobStatus
	if err := json.Unmarshal([]byte(mustRunCLI(t, e, "status", id, "--json").stdout), &st); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	return st
}

// waitJobComplete polls `goresque status` until the job is complete.
func waitJobComplete(t *testing.T, e cliEnv, id string, limit time.Duration, out func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := jobStatusCLI(t, e, id)
		if st.Status == resque.StatusComplete {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not complete within %v (status %v); worker output:\n%s", id, limit, st.Status, out())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// workOneJobInProc runs `goresque work` in-process until the job id is complete, then cancels
// its context and checks that it stops cleanly.
func workOneJobInProc(t *testing.T, e cliEnv, queue, id string, secrets []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	we := e.with("QUEUE="+queue, "INTERVAL=0.1", "VERBOSE=1", "GORESQUE_LOG_FORMAT=json")
	// The worker runs for a while: hold inProcCLIMu only until its action reads the environment,
	// which is after urfave/cli has parsed (see inProcCLIMu).
	parsed := make(chan struct{})
	var once sync.Once
	lookup := func(k string) (string, bool) {
		once.Do(func() { close(parsed) })
		return we.lookup(k)
	}
	inProcCLIMu.Lock()
	go func() {
		done <- Run(ctx, []string{"goresque", "work"}, &out, &errb, lookup, testMux())
	}()
	select {
	case <-parsed:
	case code := <-done:
		done <- code
	}
	inProcCLIMu.Unlock()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
		}
	})
	output := func() string { return out.String() + errb.String() }
	waitJobComplete(t, e, id, 15*time.Second, func() string {
		select {
		case code := <-done:
			done <- code
			return fmt.Sprintf("(exited %d) %s", code, output())
		default:
			return output()
		}
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("work exited %d after cancel; output:\n%s", code, output())
		}
		done <- code
	case <-time.After(15 * time.Second):
		t.Fatalf("work did not stop within 15s of its context's end; output:\n%s", output())
	}
	if !strings.Contains(errb.String(), "rediss://") && strings.HasPrefix(e["REDIS_BACKEND"], "rediss://") {
		t.Errorf("work log does not name the rediss:// address:\n%s", errb.String())
	}
	for _, s := range secrets {
		if strings.Contains(output(), s) {
			t.Errorf("work output contains the password %q:\n%s", s, output())
		}
	}
}

// TestTLSWithCA: rediss:// with REDIS_TLS_CA_FILE reaches a TLS-only server, by IP and by
// name, through checkRedis and the whole command line, including a worker.
func TestTLSWithCA(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.localServerCert(t)
	srv, port := startTCPRedis(t, cert, key, pki.CAFile)

	for _, host := range []string{"127.0.0.1", "localhost"} {
		e := cliEnv{"REDIS_BACKEND": fmt.Sprintf("rediss://%s:%d", host, port), "REDIS_TLS_CA_FILE": pki.CAFile}
		if err := checkRedisWith(t, e); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	// The flag works as the variable does.
	mustRunCLI(t, cliEnv{}, "stats", "--redis", fmt.Sprintf("rediss://127.0.0.1:%d", port), "--tls-ca", pki.CAFile)

	e := cliEnv{"REDIS_BACKEND": fmt.Sprintf("rediss://127.0.0.1:%d/0", port), "REDIS_TLS_CA_FILE": pki.CAFile}
	id := enqueueWithCLI(t, e, "tls")

	// The job is in the server behind the TLS port (read here through its plain socket).
	c, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := redis.Int(c.Do("LLEN", "resque:queue:tls")); err != nil || n != 1 {
		t.Errorf("LLEN resque:queue:tls = %d, %v; want 1", n, err)
	}

	workOneJobInProc(t, e, "tls", id, nil)
	if n, err := redis.Int(c.Do("GET", "resque:stat:processed")); err != nil || n != 1 {
		t.Errorf("stat:processed = %d, %v; want 1", n, err)
	}
}

// TestTLSWithoutCAFails: without REDIS_TLS_CA_FILE the system roots are used, which do not
// know the test CA: a certificate error on one line, exit status 1, no password shown.
func TestTLSWithoutCAFails(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.localServerCert(t)
	_, port := startTCPRedis(t, cert, key, pki.CAFile)
	backend := fmt.Sprintf("rediss://127.0.0.1:%d", port)
	e := cliEnv{"REDIS_BACKEND": backend, "REDIS_PASSWORD": aclPassword}

	err := checkRedisWith(t, e)
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("checkRedis without the CA: %v, want a certificate error", err)
	}
	t.Logf("checkRedis: %v", err)

	line := `^goresque: cannot reach redis at ` + regexp.QuoteMeta(backend) + `: .*x509: certificate signed by unknown authority\n$`
	secrets := []string{aclPassword}
	mustFailCLI(t, e, line, secrets, "queues")
	mustFailCLI(t, e, line, secrets, "enqueue", "default", "Test_Ok")
	mustFailCLI(t, e.with("QUEUE=default"), line, secrets, "work")
	// A password in the URL is not shown either.
	ue := cliEnv{"REDIS_BACKEND": fmt.Sprintf("rediss://%s:%s@127.0.0.1:%d/2", aclUser, aclPassword, port)}
	mustFailCLI(t, ue, `^goresque: cannot reach redis at `+regexp.QuoteMeta(backend)+`/2: .*certificate signed by unknown authority\n$`, secrets, "queues")
}

// TestTLSInsecureSkipVerify: REDIS_TLS_INSECURE_SKIP_VERIFY=1 (or the flag) connects
// without the CA; verification is skipped only when asked.
func TestTLSInsecureSkipVerify(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.localServerCert(t)
	_, port := startTCPRedis(t, cert, key, pki.CAFile)
	e := cliEnv{"REDIS_BACKEND": fmt.Sprintf("rediss://127.0.0.1:%d", port)}

	for _, v := range []string{"1", "true", "yes"} {
		if err := checkRedisWith(t, e.with("REDIS_TLS_INSECURE_SKIP_VERIFY="+v)); err != nil {
			t.Errorf("REDIS_TLS_INSECURE_SKIP_VERIFY=%s: %v", v, err)
		}
	}
	enqueueWithCLI(t, e.with("REDIS_TLS_INSECURE_SKIP_VERIFY=1"), "skip")
	mustRunCLI(t, e, "queues", "--tls-insecure-skip-verify")

	// Not asked, or asked not to: the certificate is verified (and fails).
	for _, v := range []string{"", "0", "false"} {
		ev := e
		if v != "" {
			ev = e.with("REDIS_TLS_INSECURE_SKIP_VERIFY=" + v)
		}
		if err := checkRedisWith(t, ev); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("REDIS_TLS_INSECURE_SKIP_VERIFY=%q: %v, want a certificate error", v, err)
		}
	}
	mustFailCLI(t, e.with("REDIS_TLS_INSECURE_SKIP_VERIFY=0"), `^goresque: cannot reach redis at .*certificate signed by unknown authority\n$`, nil, "queues")
}

// TestTLSClientCertificate: a server with --tls-auth-clients yes takes goresque with
// REDIS_TLS_CERT_FILE/REDIS_TLS_KEY_FILE and refuses it without.
func TestTLSClientCertificate(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.localServerCert(t)
	_, port := startTCPRedis(t, cert, key, pki.CAFile, "--tls-auth-clients", "yes")
	clientCert, clientKey := pki.clientCert(t)
	e := cliEnv{"REDIS_BACKEND": fmt.Sprintf("rediss://127.0.0.1:%d", port), "REDIS_TLS_CA_FILE": pki.CAFile}
	withCert := e.with("REDIS_TLS_CERT_FILE="+clientCert, "REDIS_TLS_KEY_FILE="+clientKey)

	if err := checkRedisWith(t, withCert); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	id := enqueueWithCLI(t, withCert, "mtls")
	mustRunCLI(t, e, "queues", "--tls-cert", clientCert, "--tls-key", clientKey)
	workOneJobInProc(t, withCert, "mtls", id, nil)

	err := checkRedisWith(t, e)
	if err == nil {
		t.Fatal("without a client certificate: connected, want a refusal")
	}
	t.Logf("checkRedis without a client certificate: %v", err)
	// TLS 1.3: the client's handshake is done before the server checks the client's
	// certificate, so the refusal shows on the first write or read after it, as a reset,
	// an EOF or the server's alert, depending on timing.
	line := `^goresque: cannot reach redis at rediss://127\.0\.0\.1:\d+: .*(certificate required|handshake failure|bad certificate|connection reset by peer|broken pipe|EOF)\n$`
	r := mustFailCLI(t, e, line, nil, "queues")
	t.Logf("queues without a client certificate: %s", strings.TrimSpace(r.stderr))
	r = mustFailCLI(t, e.with("QUEUE=mtls"), line, nil, "work")
	t.Logf("work without a client certificate: %s", strings.TrimSpace(r.stderr))

	// A certificate from another CA is refused too.
	other := newTestPKI(t)
	otherCert, otherKey := other.clientCert(t)
	otherLine := `^goresque: cannot reach redis at rediss://127\.0\.0\.1:\d+: .*(unknown certificate authority|bad certificate|connection reset by peer|broken pipe|EOF)\n$`
	r = mustFailCLI(t, e.with("REDIS_TLS_CERT_FILE="+otherCert, "REDIS_TLS_KEY_FILE="+otherKey), otherLine, nil, "queues")
	t.Logf("queues with a certificate from another CA: %s", strings.TrimSpace(r.stderr))
}

// TestTLSServerName: a server whose certificate names only redis.test, reached at
// 127.0.0.1: REDIS_TLS_SERVER_NAME=redis.test (or the flag) verifies it; without it, or
// with another name, verification fails.
func TestTLSServerName(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "redis.test", x509.ExtKeyUsageServerAuth, []string{"redis.test"}, nil)
	_, port := startTCPRedis(t, cert, key, pki.CAFile)
	e := cliEnv{"REDIS_BACKEND": fmt.Sprintf("rediss://127.0.0.1:%d", port), "REDIS_TLS_CA_FILE": pki.CAFile}

	named := e.with("REDIS_TLS_SERVER_NAME=redis.test")
	if err := checkRedisWith(t, named); err != nil {
		t.Fatalf("REDIS_TLS_SERVER_NAME=redis.test: %v", err)
	}
	enqueueWithCLI(t, named, "named")
	mustRunCLI(t, e, "queues", "--tls-server-name", "redis.test")

	err := checkRedisWith(t, e)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), "IP SANs") {
		t.Errorf("without REDIS_TLS_SERVER_NAME: %v, want a name mismatch for 127.0.0.1", err)
	}
	t.Logf("checkRedis without REDIS_TLS_SERVER_NAME: %v", err)
	mustFailCLI(t, e, `^goresque: cannot reach redis at .*x509: cannot validate certificate for 127\.0\.0\.1\b.*\n$`, nil, "queues")
	mustFailCLI(t, e.with("REDIS_TLS_SERVER_NAME=other.test"), `^goresque: cannot reach redis at .*x509: certificate is valid for redis\.test, not other\.test\n$`, nil, "queues")
}

// TestACLUser: a server whose default user is off and whose user alice has a password:
// REDIS_USERNAME + REDIS_PASSWORD_FILE and redis://alice:s3cret@host/0 work; wrong or
// missing credentials fail on one line, never showing a password.
func TestACLUser(t *testing.T) {
	t.Parallel()
	_, port := startTCPRedis(t, "", "", "", aclArgs()...)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(aclPassword+"\n"), 0o600); err != nil { // a trailing newline, as editors write
		t.Fatal(err)
	}
	wrongPassword := "wr0ng-pa55"
	wrongFile := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrongFile, []byte(wrongPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	hostPort := fmt.Sprintf("127.0.0.1:%d", port)
	secrets := []string{aclPassword, wrongPassword}

	t.Run("UsernameAndPasswordFile", func(t *testing.T) {
		t.Parallel()
		e := cliEnv{"REDIS_BACKEND": hostPort, "REDIS_USERNAME": aclUser, "REDIS_PASSWORD_FILE": pwFile}
		if err := checkRedisWith(t, e); err != nil {
			t.Fatal(err)
		}
		id := enqueueWithCLI(t, e, "acl-file")
		workOneJobInProc(t, e, "acl-file", id, secrets)
		// The flags work as the variables do.
		mustRunCLI(t, cliEnv{}, "queues", "--redis", hostPort, "--redis-username", aclUser, "--redis-password-file", pwFile)
	})
	t.Run("URL", func(t *testing.T) {
		t.Parallel()
		e := cliEnv{"REDIS_BACKEND": fmt.Sprintf("redis://%s:%s@%s/0", aclUser, aclPassword, hostPort)}
		if err := checkRedisWith(t, e); err != nil {
			t.Fatal(err)
		}
		enqueueWithCLI(t, e, "acl-url")
	})
	t.Run("WrongPassword", func(t *testing.T) {
		t.Parallel()
		wrongpass := `^goresque: redis at ` + regexp.QuoteMeta(hostPort) + `(/0)? refused us: WRONGPASS invalid username-password pair or user is disabled\.\n$`
		for name, e := range map[string]cliEnv{
			"file": {"REDIS_BACKEND": hostPort, "REDIS_USERNAME": aclUser, "REDIS_PASSWORD_FILE": wrongFile},
			"env":  {"REDIS_BACKEND": hostPort, "REDIS_USERNAME": aclUser, "REDIS_PASSWORD": wrongPassword},
			"url":  {"REDIS_BACKEND": fmt.Sprintf("redis://%s:%s@%s/0", aclUser, wrongPassword, hostPort)},
			// The right password for the disabled default user.
			"default user": {"REDIS_BACKEND": fmt.Sprintf("redis://:%s@%s/0", aclPassword, hostPort)},
		} {
			err := checkRedisWith(t, e)
			if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
				t.Errorf("%s: checkRedis = %v, want a WRONGPASS refusal", name, err)
			}
			for _, s := range secrets {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("%s: checkRedis error shows the password: %v", name, err)
				}
			}
			r := mustFailCLI(t, e, wrongpass, secrets, "queues")
			if name == "file" {
				t.Logf("wrong password: %s", strings.TrimSpace(r.stderr))
			}
			mustFailCLI(t, e, wrongpass, secrets, "enqueue", "default", "Test_Ok")
			mustFailCLI(t, e.with("QUEUE=default"), wrongpass, secrets, "work")
		}
	})
	t.Run("NoCredentials", func(t *testing.T) {
		t.Parallel()
		noauth := `^goresque: redis at ` + regexp.QuoteMeta(hostPort) + ` refused us: NOAUTH Authentication required\.\n$`
		mustFailCLI(t, cliEnv{"REDIS_BACKEND": hostPort}, noauth, secrets, "queues")
		// A user name without a password sends no AUTH at all.
		mustFailCLI(t, cliEnv{"REDIS_BACKEND": hostPort, "REDIS_USERNAME": aclUser}, noauth, secrets, "queues")
	})
}

// TestPasswordNotInProcessList runs a real `goresque work` process (this test binary, as
// the signal tests do) against a TLS server with an ACL user, the password only in
// REDIS_PASSWORD_FILE: the worker works a job, and neither its command line (what ps
// shows) nor its environment holds the password.
func TestPasswordNotInProcessList(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cert, key := pki.localServerCert(t)
	_, port := startTCPRedis(t, cert, key, pki.CAFile, aclArgs()...)
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(aclPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	e := cliEnv{
		"REDIS_BACKEND":       fmt.Sprintf("rediss://127.0.0.1:%d/0", port),
		"REDIS_TLS_CA_FILE":   pki.CAFile,
		"REDIS_USERNAME":      aclUser,
		"REDIS_PASSWORD_FILE": pwFile,
	}
	id := enqueueWithCLI(t, e, "ps")

	cmd := exec.Command(os.Args[0], "work")
	cmd.Env = []string{childEnv + "=1", "PATH=" + os.Getenv("PATH"), "QUEUE=ps", "INTERVAL=0.1", "VERBOSE=1", "GORESQUE_LOG_FORMAT=json"}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	waitJobComplete(t, e, id, 15*time.Second, out.String)

	pid := cmd.Process.Pid
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if strings.Contains(string(cmdline), aclPassword) {
		t.Errorf("/proc/%d/cmdline holds the password: %q", pid, args)
	}
	if !strings.Contains(string(cmdline), "resque") {
		t.Errorf("/proc/%d/cmdline %q: want it to contain resque (php-resque's liveness check)", pid, args)
	}
	t.Logf("worker command line: %q", args)
	if environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err != nil {
		t.Error(err)
	} else if strings.Contains(string(environ), aclPassword) {
		t.Errorf("/proc/%d/environ holds the password", pid)
	}
	if psOut, err := exec.Command("ps", "-ww", "-o", "args=", "-p", strconv.Itoa(pid)).Output(); err == nil {
		if strings.Contains(string(psOut), aclPassword) {
			t.Errorf("ps shows the password: %q", psOut)
		}
		if !strings.Contains(string(psOut), "work") {
			t.Errorf("ps -p %d = %q: not the worker", pid, psOut)
		}
	} else {
		t.Logf("ps not usable (%v); /proc checked instead", err)
	}

	if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("worker did not stop within 15s of SIGQUIT; output:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("worker exited %d; output:\n%s", code, out.String())
	}
	if strings.Contains(out.String(), aclPassword) {
		t.Errorf("worker output holds the password:\n%s", out.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf(`"redis":"rediss://127.0.0.1:%d/0"`, port)) {
		t.Errorf("worker log does not name the redis address:\n%s", out.String())
	}
}
