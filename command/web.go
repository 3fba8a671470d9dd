package command

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/goresque/goresque/internal/web"
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

// defaultWebListen is loopback: the dashboard can retry and remove jobs, so it is reachable
// from other machines only when asked for, and then only with a password.
const defaultWebListen = "127.0.0.1:5678"

// webSettings is everything `goresque web` reads besides the Redis settings.
type webSettings struct {
	Listen   string
	ReadOnly bool
	User     string
	Password string
	// TLSCert and TLSKey serve HTTPS, so that the basic-auth password does not cross the
	// network in clear text; both or neither.
	TLSCert, TLSKey string
}

// readWebSettings reads the web rows of settingsTable, then checks what needs several: a
// certificate needs its key, an address beyond loopback a password.
func readWebSettings(src source) (webSettings, error) {
	all, err := readSettings(src, func(st setting) bool { return st.cmd == "web" })
	s := all.Web
	if err != nil {
		return s, err
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return s, badSetting("GORESQUE_WEB_TLS_CERT_FILE and GORESQUE_WEB_TLS_KEY_FILE go together: set both or neither")
	}
	host, _, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return s, badSetting("--listen %q: want host:port, e.g. %s", s.Listen, defaultWebListen)
	}
	if !isLoopback(host) && s.Password == "" {
		return s, badSetting("--listen %s is not a loopback address: set GORESQUE_WEB_PASSWORD (or GORESQUE_WEB_PASSWORD_FILE) to serve the dashboard beyond this machine", s.Listen)
	}
	return s, nil
}

// isLoopback reports whether host names only this machine. An empty host or 0.0.0.0
// listens on every interface, so it is not.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func webCommand(env lookupFunc) *cli.Command {
	return &cli.Command{
		Name:  "web",
		Usage: "serve the dashboard and Prometheus /metrics for the whole Redis",
		Description: `Pages: / (overview), /queues, /workers, /failed, /delayed, /stats; /metrics for Prometheus.
It listens on ` + defaultWebListen + ` unless --listen says otherwise. GORESQUE_WEB_PASSWORD (or
GORESQUE_WEB_PASSWORD_FILE) turns on HTTP basic auth for user admin (GORESQUE_WEB_USER); it is
required to listen on anything but a loopback address.`,
		Flags: settingFlags(func(st setting) bool { return st.cmd == "web" }),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError("web takes no arguments")
			}
			s, err := readWebSettings(source{env: env, flags: given(c)})
			if err != nil {
				return err
			}
			client, pool, err := clientFor(c, env)
			if err != nil {
				return err
			}
			defer pool.Close()
			log := zerolog.New(c.App.ErrWriter).With().Timestamp().Logger()
			srv, err := web.New(web.Options{Client: client, ReadOnly: s.ReadOnly, User: s.User, Password: s.Password, Logger: log})
			if err != nil {
				return err
			}
			scheme := "http"
			if s.TLSCert != "" {
				scheme = "https"
				// Checked before listening: a bad file is a settings error, not a dead server.
				if _, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey); err != nil {
					return badSetting("GORESQUE_WEB_TLS_CERT_FILE / GORESQUE_WEB_TLS_KEY_FILE: %v", err)
				}
			}
			ln, err := net.Listen("tcp", s.Listen)
			if err != nil {
				return fmt.Errorf("web: %w", err)
			}
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
			mode := ""
			if s.ReadOnly {
				mode = " (read-only)"
			}
			fmt.Fprintf(c.App.Writer, "goresque web: serving %s://%s/%s\n", scheme, ln.Addr(), mode)
			done := make(chan error, 1)
			go func() {
				if s.TLSCert != "" {
					done <- hs.ServeTLS(ln, s.TLSCert, s.TLSKey)
					return
				}
				done <- hs.Serve(ln)
			}()
			select {
			case err := <-done:
				return fmt.Errorf("web: %w", err)
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				return fmt.Errorf("web: shutdown: %w", err)
			}
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("web: %w", err)
			}
			return nil
		},
	}
}
