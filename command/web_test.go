package command

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goresque/goresque/internal/redistest"
)

func TestWebSettings(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		flags   map[string]string
		env     map[string]string
		want    webSettings
		wantErr string
	}{
		{name: "defaults", want: webSettings{Listen: "127.0.0.1:5678", User: "admin"}},
		{name: "ipv6 loopback", flags: map[string]string{"listen": "[::1]:9000"}, want: webSettings{Listen: "[::1]:9000", User: "admin"}},
		{name: "localhost", env: map[string]string{"GORESQUE_WEB_LISTEN": "localhost:1"}, want: webSettings{Listen: "localhost:1", User: "admin"}},
		{name: "all interfaces need a password", flags: map[string]string{"listen": ":5678"}, wantErr: "not a loopback address: set GORESQUE_WEB_PASSWORD"},
		{name: "0.0.0.0 needs a password", flags: map[string]string{"listen": "0.0.0.0:5678"}, wantErr: "GORESQUE_WEB_PASSWORD"},
		{name: "a LAN address needs a password", flags: map[string]string{"listen": "192.0.2.1:80"}, wantErr: "GORESQUE_WEB_PASSWORD"},
		{
			name: "password and user", flags: map[string]string{"listen": "0.0.0.0:5678", "read-only": "true"},
			env:  map[string]string{"GORESQUE_WEB_PASSWORD": "pw", "GORESQUE_WEB_USER": "ops"},
			want: webSettings{Listen: "0.0.0.0:5678", ReadOnly: true, User: "ops", Password: "pw"},
		},
		{
			name: "password file", flags: map[string]string{"listen": ":80"}, env: map[string]string{"GORESQUE_WEB_PASSWORD_FILE": pwFile},
			want: webSettings{Listen: ":80", User: "admin", Password: "from-file"},
		},
		{name: "both", env: map[string]string{"GORESQUE_WEB_PASSWORD_FILE": pwFile, "GORESQUE_WEB_PASSWORD": "x"}, wantErr: "not both"},
		{name: "missing file", env: map[string]string{"GORESQUE_WEB_PASSWORD_FILE": "/nonexistent/pw"}, wantErr: "GORESQUE_WEB_PASSWORD_FILE"},
		{name: "read-only env", env: map[string]string{"GORESQUE_WEB_READ_ONLY": "1"}, want: webSettings{Listen: "127.0.0.1:5678", User: "admin", ReadOnly: true}},
		{name: "read-only typo", env: map[string]string{"GORESQUE_WEB_READ_ONLY": "ye"}, wantErr: "GORESQUE_WEB_READ_ONLY"},
		{name: "no port", flags: map[string]string{"listen": "127.0.0.1"}, wantErr: "want host:port"},
		{name: "cert without key", flags: map[string]string{"https-cert": "c.pem"}, wantErr: "set both or neither"},
		{
			name: "https", env: map[string]string{"GORESQUE_WEB_TLS_CERT_FILE": "c.pem", "GORESQUE_WEB_TLS_KEY_FILE": "k.pem"},
			want: webSettings{Listen: "127.0.0.1:5678", User: "admin", TLSCert: "c.pem", TLSKey: "k.pem"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
			got, err := readWebSettings(source{env: env, flags: c.flags})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

// TestWebCommand runs `goresque web` as a user does: a non-loopback listen without a
// password is a settings error (exit 2) before anything listens; on loopback it serves
// the dashboard and /metrics, and stops cleanly when its context ends.
func TestWebCommand(t *testing.T) {
	srv := server(t)
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"REDIS_BACKEND": srv.Socket, "PREFIX": "webcmd"}[k]
		return v, ok
	}
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"goresque", "web", "--listen", "0.0.0.0:0"}, &out, &errb, lookup, nil); code != exitUsage {
		t.Fatalf("non-loopback without password: exit %d, want %d; %s", code, exitUsage, errb.String())
	}
	if !strings.Contains(errb.String(), "GORESQUE_WEB_PASSWORD") {
		t.Errorf("the error does not say what to set: %s", errb.String())
	}

	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out.Reset()
	errb.Reset()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"goresque", "web", "--listen", addr, "--read-only"}, io.Discard, &errb, lookup, nil)
	}()
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goresque web did not answer: %v; %s", err, errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(body, "goresque_redis_up 1") {
		t.Errorf("/metrics lacks goresque_redis_up 1:\n%s", body)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d after its context ended; %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("goresque web did not stop")
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns their paths and a
// pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "goresque web test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// TestWebHTTPS: with a certificate the dashboard speaks only HTTPS, the password crosses
// the network encrypted; a key that does not parse is a settings error.
func TestWebHTTPS(t *testing.T) {
	srv := server(t)
	certFile, keyFile, roots := selfSigned(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	vars := map[string]string{"REDIS_BACKEND": srv.Socket, "PREFIX": "webtls", "GORESQUE_WEB_PASSWORD": "pw"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }

	var errb bytes.Buffer
	if code := Run(context.Background(), []string{"goresque", "web", "--listen", addr, "--https-cert", certFile, "--https-key", certFile}, io.Discard, &errb, lookup, nil); code != exitUsage {
		t.Fatalf("a certificate given as the key: exit %d, want %d; %s", code, exitUsage, errb.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"goresque", "web", "--listen", addr, "--https-cert", certFile, "--https-key", keyFile}, io.Discard, io.Discard, lookup, nil)
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
		req.SetBasicAuth("admin", "pw")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET / over HTTPS: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + addr + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the dashboard answered plain HTTP")
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("goresque web did not stop")
	}
}
