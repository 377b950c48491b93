package caddytest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// interimOrigin is a backend that sends 103 Early Hints (with a Link) and
// 102 Processing before a cacheable 200, over HTTP/1.1 or, with h2c, over
// HTTP/2 without TLS (so Caddy's transport carries it).
func interimOrigin(t *testing.T, h2c bool) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	return originURL(t, h2c, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.WriteHeader(http.StatusProcessing)
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "final "+r.Proto)
	}), hits
}

// originURL starts a backend serving h over HTTP/1.1 or, with h2c, over
// HTTP/2 without TLS, and returns the URL smartproxy takes for it.
func originURL(t *testing.T, h2c bool, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	if h2c {
		s.Config.Protocols = h2cOnly()
	}
	s.Start()
	t.Cleanup(s.Close)
	if h2c {
		return "h2c://" + strings.TrimPrefix(s.URL, "http://")
	}
	return s.URL
}

// interimGet sends GET path with a client trace and returns the interim
// responses seen ("103 </style.css>; ..."), the final response and body.
func interimGet(t *testing.T, c *http.Client, path string) ([]string, *http.Response, string) {
	t.Helper()
	var seen []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		seen = append(seen, strings.TrimSpace(fmt.Sprint(code, " ", h.Get("Link"))))
		return nil
	}}
	req, _ := http.NewRequest("GET", proxyURL+path, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return seen, resp, readBody(resp)
}

// TestCacheInterimResponses_RFC8297: 103 Early Hints and 102 Processing
// from a backend reach the client before the final response, over HTTP/1.1
// and HTTP/2 (h2c) to the client, through h1 (plain-HTTP backend) and
// Caddy's transport (h2c backend), with and without the cache; the hints
// are never part of the final or the stored response, and a hit sends none.
func TestCacheInterimResponses_RFC8297(t *testing.T) {
	h1URL, h1Hits := interimOrigin(t, false)
	h2URL, h2Hits := interimOrigin(t, true)
	cache := map[string]any{"max_size": 100}
	srv := plainServer(proxyAddr,
		spRoute(map[string]any{"backends": []map[string]any{{"url": h1URL}}, "cache": cache,
			"routes": []map[string]any{{"path": "/nocache/", "backends": []map[string]any{{"url": h1URL}}}}},
			[]string{"h1.test"}),
		spRoute(map[string]any{"backends": []map[string]any{{"url": h2URL}}, "cache": cache,
			"routes": []map[string]any{{"path": "/nocache/", "backends": []map[string]any{{"url": h2URL}}}}},
			[]string{"h2.test"}))
	srv["protocols"] = []string{"h1", "h2c"}
	startServers(t, map[string]any{"sp": srv})

	clients := map[string]*http.Client{
		"HTTP/1.1": {Timeout: 10 * time.Second, Transport: &http.Transport{}},
		"HTTP/2":   {Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: h2cOnly()}},
	}
	const hint = "103 </style.css>; rel=preload; as=style"
	for cname, c := range clients {
		for _, host := range []string{"h1.test", "h2.test"} {
			for _, path := range []string{"/nocache/a", "/cached"} {
				name := cname + " " + host + path
				c := rewriteHost(c, host)
				seen, resp, body := interimGet(t, c, path+"?"+strings.ReplaceAll(cname, "/", ""))
				if resp.StatusCode != 200 || !strings.HasPrefix(body, "final") {
					t.Fatalf("%s: %d %q", name, resp.StatusCode, body)
				}
				if want := []string{hint, "102"}; fmt.Sprint(seen) != fmt.Sprint(want) {
					t.Errorf("%s: interim responses %q, want %q", name, seen, want)
				}
				if resp.Header.Get("Link") != "" {
					t.Errorf("%s: the hint leaked into the final response: %v", name, resp.Header)
				}
				if cname == "HTTP/2" && resp.ProtoMajor != 2 {
					t.Errorf("%s: client spoke %s", name, resp.Proto)
				}
				if path != "/cached" {
					continue
				}
				seen, resp, _ = interimGet(t, c, path+"?"+strings.ReplaceAll(cname, "/", ""))
				if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "hit") {
					t.Errorf("%s: second GET Cache-Status %q, want a hit", name, cs)
				}
				if len(seen) != 0 || resp.Header.Get("Link") != "" {
					t.Errorf("%s: a hit carried interim responses %q or the hint %v", name, seen, resp.Header)
				}
			}
		}
	}
	if h1Hits.Load() != 4 || h2Hits.Load() != 4 {
		t.Errorf("backend requests h1 %d, h2c %d; want 4 each (2 uncached + 2 misses)", h1Hits.Load(), h2Hits.Load())
	}

	// An HTTP/1.0 client gets no 1xx (RFC 9110 §15.2), only the answer.
	r := rawDo(t, proxyAddr, "GET", "GET /nocache/old HTTP/1.0\r\nHost: h1.test\r\n\r\n", 2)
	if len(r) != 1 || r[0].Status != 200 {
		t.Errorf("HTTP/1.0 client got %+v, want one 200", r)
	}
}

// TestCacheEndlessInterim: a backend that sends 1xx without end gets the
// request failed (502) on either transport, not streamed forever.
func TestCacheEndlessInterim(t *testing.T) {
	endless := func(h2c bool) string {
		return originURL(t, h2c, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</x>")
			for range 1000 {
				w.WriteHeader(http.StatusEarlyHints)
				if r.Context().Err() != nil {
					return
				}
			}
			io.WriteString(w, "late")
		})
	}
	startServers(t, map[string]any{"sp": plainServer(proxyAddr,
		spRoute(map[string]any{"backends": []map[string]any{{"url": endless(false)}}, "cache": map[string]any{}}, []string{"h1.test"}),
		spRoute(map[string]any{"backends": []map[string]any{{"url": endless(true)}}}, []string{"h2.test"}))})
	for _, host := range []string{"h1.test", "h2.test"} {
		seen, resp, body := interimGet(t, rewriteHost(newClient(), host), "/")
		if resp.StatusCode != http.StatusBadGateway || len(seen) > 16 {
			t.Errorf("%s: %d %q after %d interim responses, want 502 after at most 16", host, resp.StatusCode, body, len(seen))
		}
	}
}

func h2cOnly() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

// rewriteHost returns a client like c whose requests carry Host: host.
func rewriteHost(c *http.Client, host string) *http.Client {
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	out := *c
	out.Transport = hostRT{rt, host}
	return &out
}

type hostRT struct {
	rt   http.RoundTripper
	host string
}

func (h hostRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = h.host
	return h.rt.RoundTrip(r)
}
