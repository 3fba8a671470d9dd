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
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goresque/goresque/internal/redistest"
	"github.com/goresque/goresque/resque"
	"github.com/rogpeppe/go-internal/testscript"
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

// TestTLSScripts runs the scripts under testdata/tls against private servers: TLS only
// (a throwaway CA, --port 0), TLS that wants client certificates, TLS with a certificate
// naming only redis.test, and ACL with the default user off. Each script sees $PORT, $CA,
// $CLIENT_CERT/$CLIENT_KEY, $OTHER_CERT/$OTHER_KEY (from another CA), $ACL_USER,
// $PASSWORD, $PASSWORD_FILE (with a trailing newline, as editors write),
// $WRONG_PASSWORD and $WRONG_FILE.
func TestTLSScripts(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct {
		name    string
		scripts []string
		start   func(t *testing.T, pki *testPKI) int
	}{
		{"tls", []string{"tls_ca", "tls_noca", "tls_skipverify"}, func(t *testing.T, pki *testPKI) int {
			cert, key := pki.localServerCert(t)
			_, port := startTCPRedis(t, cert, key, pki.CAFile)
			return port
		}},
		{"clientauth", []string{"tls_clientcert"}, func(t *testing.T, pki *testPKI) int {
			cert, key := pki.localServerCert(t)
			_, port := startTCPRedis(t, cert, key, pki.CAFile, "--tls-auth-clients", "yes")
			return port
		}},
		{"servername", []string{"tls_servername"}, func(t *testing.T, pki *testPKI) int {
			cert, key := pki.issue(t, "redis.test", x509.ExtKeyUsageServerAuth, []string{"redis.test"}, nil)
			_, port := startTCPRedis(t, cert, key, pki.CAFile)
			return port
		}},
		{"acl", []string{"acl"}, func(t *testing.T, pki *testPKI) int {
			_, port := startTCPRedis(t, "", "", "", aclArgs()...)
			return port
		}},
	} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			pki := newTestPKI(t)
			port := srv.start(t, pki)
			clientCert, clientKey := pki.clientCert(t)
			otherCert, otherKey := newTestPKI(t).clientCert(t)
			dir := t.TempDir()
			pwFile, wrongFile := filepath.Join(dir, "password"), filepath.Join(dir, "wrong")
			const wrongPassword = "wr0ng-pa55"
			if err := os.WriteFile(pwFile, []byte(aclPassword+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(wrongFile, []byte(wrongPassword), 0o600); err != nil {
				t.Fatal(err)
			}
			var files []string
			for _, s := range srv.scripts {
				files = append(files, filepath.Join("testdata", "tls", s+".txtar"))
			}
			testscript.Run(t, testscript.Params{
				Files: files,
				Setup: func(e *testscript.Env) error {
					for k, v := range map[string]string{
						"PORT": strconv.Itoa(port), "CA": pki.CAFile,
						"CLIENT_CERT": clientCert, "CLIENT_KEY": clientKey, "OTHER_CERT": otherCert, "OTHER_KEY": otherKey,
						"ACL_USER": aclUser, "PASSWORD": aclPassword, "PASSWORD_FILE": pwFile,
						"WRONG_PASSWORD": wrongPassword, "WRONG_FILE": wrongFile,
					} {
						e.Setenv(k, v)
					}
					return nil
				},
				Cmds: scriptCmds(),
			})
		})
	}
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
	env := map[string]string{
		"REDIS_BACKEND":       fmt.Sprintf("rediss://127.0.0.1:%d/0", port),
		"REDIS_TLS_CA_FILE":   pki.CAFile,
		"REDIS_USERNAME":      aclUser,
		"REDIS_PASSWORD_FILE": pwFile,
	}
	r, err := readRedisSettings(source{env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	pool, _, err := newPool(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	client := resque.NewClient(pool, resque.ClientConfig{Namespace: "", Dialect: resque.DialectPHPResque136})
	ctx := context.Background()
	id, err := client.Enqueue(ctx, "ps", "Test_Ok", nil, resque.EnqueueOptions{Track: true})
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "work")
	cmd.Env = []string{childEnv + "=1", "PATH=" + os.Getenv("PATH"), "QUEUE=ps", "INTERVAL=0.1", "VERBOSE=1", "GORESQUE_LOG_FORMAT=json"}
	for k, v := range env {
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
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(25 * time.Millisecond) {
		if st, err := client.Status(ctx, id, ""); err == nil && st.Status == resque.StatusComplete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not complete within 15s; worker output:\n%s", out.String())
		}
	}

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
