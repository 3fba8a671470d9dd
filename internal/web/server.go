// Package web is goresque's dashboard: resque-web's pages (queues, workers, failed and
// delayed jobs, stats) for php-resque, Ruby, node and goresque workers sharing one Redis,
// served from the one binary with templates and assets embedded, plus a Prometheus
// /metrics endpoint for the whole Redis.
//
// It reads and changes everything through resque.Client's inspection and operation API,
// the calls the CLI makes, so the dashboard and `goresque failed retry` never disagree on
// the wire format. It holds no state of its own besides a CSRF secret: several dashboards
// can run against one Redis.
package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/goresque/goresque/resque"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server.
type Options struct {
	// Client reads and operates on the Redis the dashboard shows. Required.
	Client *resque.Client
	// ReadOnly serves no state-changing request and shows no action buttons.
	ReadOnly bool
	// User and Password enable HTTP basic auth when Password is set; User defaults to
	// "admin". Whether a password is required (a non-loopback listen) is the caller's
	// decision: the Server only enforces what it is given.
	User, Password string
	// Logger receives one line per failed request; the zero value logs nothing.
	Logger zerolog.Logger
	// Poll is how often pages refresh their live parts (default 2s).
	Poll time.Duration
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// Server is the dashboard's http.Handler.
type Server struct {
	opt     Options
	mux     *http.ServeMux
	pages   map[string]*template.Template
	csrfKey []byte
	origin  *http.CrossOriginProtection
	metrics *prometheus.Registry
}

// New returns a Server for opt.
func New(opt Options) (*Server, error) {
	if opt.Client == nil {
		return nil, errors.New("web: Options.Client is nil")
	}
	if opt.User == "" {
		opt.User = "admin"
	}
	if opt.Poll <= 0 {
		opt.Poll = 2 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{opt: opt, mux: http.NewServeMux(), origin: http.NewCrossOriginProtection()}
	s.csrfKey = make([]byte, 32)
	if _, err := rand.Read(s.csrfKey); err != nil {
		return nil, fmt.Errorf("web: csrf key: %w", err)
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.metrics = prometheus.NewRegistry()
	s.metrics.MustRegister(
		newRedisCollector(s),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.routes()
	return s, nil
}

func (s *Server) now() time.Time { return s.opt.Now() }

func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.overview)
	s.mux.HandleFunc("GET /queues", s.queues)
	s.mux.HandleFunc("GET /queues/{name}", s.queue)
	s.mux.HandleFunc("GET /workers", s.workers)
	s.mux.HandleFunc("GET /stats", s.stats)
	s.mux.HandleFunc("GET /classes", s.classes)
	s.mux.HandleFunc("GET /api/overview", s.apiOverview)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	s.post("POST /queues/{name}", s.queueAction)
	s.operateRoutes()
}

// post registers a state-changing handler: refused in read-only mode, and only after the
// CSRF checks.
func (s *Server) post(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.origin.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opt.ReadOnly {
			http.Error(w, "read-only dashboard (--read-only)", http.StatusForbidden)
			return
		}
		if !s.validCSRF(r.PostFormValue("csrf")) {
			http.Error(w, "forbidden: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
			return
		}
		h(w, r)
	})))
}

// ServeHTTP serves the dashboard behind basic auth (when a password is set) with headers
// that keep the pages from running anything but their own script.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if s.opt.Password != "" && !s.authorized(r) {
		h.Set("WWW-Authenticate", `Basic realm="goresque", charset="UTF-8"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	// Compare digests so that neither the length nor the content leaks through timing.
	uh, ph := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
	wu, wp := sha256.Sum256([]byte(s.opt.User)), sha256.Sum256([]byte(s.opt.Password))
	return subtle.ConstantTimeCompare(uh[:], wu[:])&subtle.ConstantTimeCompare(ph[:], wp[:]) == 1
}

// csrfToken is the synchronizer token every form carries. It is an HMAC under a secret
// made at start, so it cannot be guessed by another site; http.CrossOriginProtection
// (Sec-Fetch-Site / Origin) refuses cross-site POSTs from browsers before that.
func (s *Server) csrfToken() string { return s.mac("csrf", "goresque-web") }

// mac is an HMAC of msg under the secret made at start, for purpose.
func (s *Server) mac(purpose, msg string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) validCSRF(tok string) bool {
	return tok != "" && hmac.Equal([]byte(tok), []byte(s.csrfToken()))
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.opt.Logger.Error().Err(err).Str("path", r.URL.Path).Msg("web request failed")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	// The error names keys and commands, never the Redis address or password: the
	// Client's errors carry neither.
	fmt.Fprintf(w, "reading Redis failed: %v\n", err)
}
