package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newProbeChecker builds a Checker with the built-in HTTP check against
// srv; the test calls its check directly.
func newProbeChecker(t *testing.T, s Settings, srv *httptest.Server) (*Checker, *target) {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	c, err := New(s, []Target{{Name: "a", URL: u}})
	if err != nil {
		t.Fatal(err)
	}
	return c, c.targets[0]
}

func TestHTTPCheckStatus(t *testing.T) {
	tests := []struct {
		expect string
		code   int
		pass   bool
	}{
		{"", 200, true},
		{"", 204, true},
		{"", 301, false}, // redirects are judged, not followed
		{"", 503, false},
		{"200", 200, true},
		{"200", 204, false},
		{"3xx", 302, true},
		{"200-399", 399, true},
		{"200-399", 400, false},
		{"5xx", 500, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.expect, tc.code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.code/100 == 3 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.code)
			}))
			defer srv.Close()
			c, tgt := newProbeChecker(t, Settings{ExpectStatus: tc.expect}, srv)
			err := c.httpCheck(context.Background(), tgt)
			if (err == nil) != tc.pass {
				t.Fatalf("check error %v, want pass=%v", err, tc.pass)
			}
			if err != nil && (!errors.Is(err, ErrUnexpectedStatus) || !strings.Contains(err.Error(), fmt.Sprint(tc.code))) {
				t.Fatalf("error %v should wrap ErrUnexpectedStatus and name %d", err, tc.code)
			}
		})
	}
}

func TestHTTPCheckBody(t *testing.T) {
	body := `{"status":"ok","db":"up"}`
	padded := strings.Repeat(" ", 100) + body
	tests := []struct {
		name    string
		expect  string
		maxBody int64
		body    string
		pass    bool
	}{
		{"match", `"status":\s*"ok"`, 0, body, true},
		{"no match", `"status":"down"`, 0, body, false},
		{"anchored", `^\{`, 0, body, true},
		{"beyond the read limit", `"ok"`, 50, padded, false},
		{"within the read limit", `"ok"`, 200, padded, true},
		{"empty body", `ok`, 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			c, tgt := newProbeChecker(t, Settings{ExpectBody: tc.expect, MaxBody: tc.maxBody}, srv)
			err := c.httpCheck(context.Background(), tgt)
			if (err == nil) != tc.pass {
				t.Fatalf("check error %v, want pass=%v", err, tc.pass)
			}
			if err != nil && !errors.Is(err, ErrUnexpectedBody) {
				t.Fatalf("error %v should wrap ErrUnexpectedBody", err)
			}
		})
	}
}

// The probe carries the configured method, path, query and headers.
func TestHTTPCheckRequest(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Clone(context.Background()) }))
	defer srv.Close()
	s := Settings{Method: http.MethodHead, Path: "/ready?deep=1", Headers: http.Header{"host": {"api.example.com"}, "x-probe": {"yes"}}}
	c, tgt := newProbeChecker(t, s, srv)
	if err := c.httpCheck(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodHead || got.URL.Path != "/ready" || got.URL.RawQuery != "deep=1" {
		t.Fatalf("probe was %s %s", got.Method, got.URL)
	}
	if got.Host != "api.example.com" || got.Header.Get("X-Probe") != "yes" || got.Header.Get("User-Agent") != userAgent {
		t.Fatalf("probe host %q, headers %v", got.Host, got.Header)
	}
	if s.Headers.Get("User-Agent") != "" {
		t.Fatal("the check changed the settings' headers")
	}
}

// A backend that does not answer in time fails the check.
func TestHTTPCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c, tgt := newProbeChecker(t, Settings{Interval: time.Second, Timeout: 20 * time.Millisecond, UnhealthyThreshold: 1}, srv)
	c.checkOnce(context.Background(), tgt)
	st, _ := c.Status("a")
	if st.State != Unhealthy || !errors.Is(st.LastError, context.DeadlineExceeded) {
		t.Fatalf("status after a hung probe: %+v", st)
	}
}

func TestHTTPCheckConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	c, tgt := newProbeChecker(t, Settings{}, srv)
	srv.Close()
	if err := c.httpCheck(context.Background(), tgt); err == nil {
		t.Fatal("probe of a closed port passed")
	}
}

func TestWithClientKeepsRedirectsOff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			http.Redirect(w, r, "/ok", http.StatusFound)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	var used atomic.Bool
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Store(true)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c, err := New(Settings{}, []Target{{Name: "a", URL: u}}, WithClient(client))
	if err != nil {
		t.Fatal(err)
	}
	err = c.httpCheck(context.Background(), c.targets[0])
	if !errors.Is(err, ErrUnexpectedStatus) || !used.Load() {
		t.Fatalf("error %v (want the 302 judged), client used %v", err, used.Load())
	}
	if client.CheckRedirect != nil {
		t.Fatal("WithClient changed the caller's client")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// End to end over real HTTP: a backend goes down and comes back, and the
// running Checker reports exactly those two transitions, in order.
func TestCheckerAgainstRealBackend(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	c, err := New(Settings{Interval: 5 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2}, []Target{{Name: "a", URL: u}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	c.Subscribe(ObserverFunc(func(tr Transition) {
		mu.Lock()
		seen = append(seen, tr.From.String()+">"+tr.To.String())
		mu.Unlock()
	}))
	c.Start(context.Background())
	defer c.Stop()

	eventually(t, "a first passing check", func() bool { st, _ := c.Status("a"); return st.Passes > 0 })
	down.Store(true)
	eventually(t, "the backend to be marked down", func() bool { return c.State("a") == Unhealthy })
	down.Store(false)
	eventually(t, "the backend to come back", func() bool { return c.State("a") == Healthy })
	c.Stop()
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"healthy>unhealthy", "unhealthy>healthy"}; !slices.Equal(seen, want) {
		t.Fatalf("observer saw %v, want %v", seen, want)
	}
}

// TestHTTPCheckServerName: an https target's probe sends and verifies
// Target.ServerName, unless the client's TLS config names a server, with
// Target.TLS in place of the client's TLS config when set.
// httptest's certificate names 127.0.0.1, ::1 and example.com only.
func TestHTTPCheckServerName(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || r.TLS.ServerName != "example.com" {
			w.WriteHeader(http.StatusMisdirectedRequest)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL) // https://127.0.0.1:port
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tests := []struct {
		name       string
		serverName string // Target's
		configured string // the client's TLS config's
		ownTLS     bool   // Target.TLS trusts the certificate; the client does not
		pass       bool
	}{
		{"target's name is sent and verified", "example.com", "", false, true},
		{"target's name not in the certificate", "other.test", "", false, false},
		{"no name: the IP is verified, no SNI", "", "", false, false}, // 421 from the backend: no SNI
		{"the configured name wins", "other.test", "example.com", false, true},
		{"the target's own TLS, with its name", "example.com", "", true, true},
		{"the target's own TLS replaces the client's", "example.com", "example.com", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clientTLS := &tls.Config{RootCAs: pool, ServerName: tc.configured}
			target := Target{Name: "a", URL: u, ServerName: tc.serverName}
			if tc.ownTLS {
				target.TLS = &tls.Config{RootCAs: pool}
				clientTLS.RootCAs = x509.NewCertPool() // trusts nothing
			}
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: clientTLS}}
			c, err := New(Settings{}, []Target{target}, WithClient(client))
			if err != nil {
				t.Fatal(err)
			}
			err = c.httpCheck(context.Background(), c.targets[0])
			if (err == nil) != tc.pass {
				t.Fatalf("check error %v, want pass=%v", err, tc.pass)
			}
			if got := client.Transport.(*http.Transport).TLSClientConfig.ServerName; got != tc.configured {
				t.Fatalf("the caller's client was changed: ServerName %q", got)
			}
			if target.TLS != nil && target.TLS.ServerName != "" {
				t.Fatalf("the target's TLS config was changed: ServerName %q", target.TLS.ServerName)
			}
		})
	}
}

// TestHTTPCheckHost: the check sends Target.Host as its Host, unless
// Settings.Headers names one; with neither, the URL's host.
func TestHTTPCheckHost(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Store(r.Host) }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	for _, tc := range []struct {
		name, target, header, want string
	}{
		{"the target's host", "api.test:8443", "", "api.test:8443"},
		{"the configured Host wins", "api.test:8443", "configured.test", "configured.test"},
		{"neither: the URL's host", "", "", u.Host},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Settings{}
			if tc.header != "" {
				s.Headers = http.Header{"Host": {tc.header}}
			}
			c, err := New(s, []Target{{Name: "a", URL: u, Host: tc.target}})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.httpCheck(context.Background(), c.targets[0]); err != nil {
				t.Fatal(err)
			}
			if h := got.Load(); h != tc.want {
				t.Fatalf("Host %v, want %q", h, tc.want)
			}
		})
	}
}
