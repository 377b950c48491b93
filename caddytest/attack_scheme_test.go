package caddytest

import (
	"crypto/tls"
	"net/http"
	"testing"
	"time"
)

// tlsAddr is where the scheme test's server takes HTTPS (Caddy's internal
// CA issues the certificate for 127.0.0.1).
const tlsAddr = "127.0.0.1:9443"

// startPlainAndTLS serves route on proxyAddr (plain HTTP) and tlsAddr
// (HTTPS, a certificate from Caddy's internal CA, issued in the background).
func startPlainAndTLS(t *testing.T, route map[string]any) {
	t.Helper()
	srv := plainServer(proxyAddr, route)
	srv["listen"] = []string{proxyAddr, tlsAddr}
	srv["tls_connection_policies"] = []map[string]any{{}}
	startConfig(t, map[string]any{"http_port": 9080, "https_port": 9443, "servers": map[string]any{"sp": srv}},
		map[string]any{
			"tls": map[string]any{
				"certificates": map[string]any{"automate": []string{"127.0.0.1"}},
				"automation": map[string]any{"policies": []map[string]any{{
					"subjects": []string{"127.0.0.1"}, "issuers": []map[string]any{{"module": "internal"}}}}},
			},
			"pki": map[string]any{"certificate_authorities": map[string]any{"local": map[string]any{"install_trust": false}}},
		})
}

// A client on plain HTTP names https in an absolute-form request target.
// The backend redirects plain-HTTP clients to https with a cacheable 301.
// The proxy must tell the backend the truth (X-Forwarded-Proto: http, the
// connection's scheme) and store the answer under the connection's scheme:
// an https client then never gets that 301 (a redirect loop, or worse, any
// answer an http client planted for https users).
func TestAttackAbsoluteFormSchemePoisonsCache(t *testing.T) {
	b := newAdvBackend(t)
	b.setScript(func(r *advRequest) *advReply {
		if r.Header.Get("X-Forwarded-Proto") == "https" {
			return &advReply{Raw: "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 14\r\n\r\nsecure account"}
		}
		return &advReply{Raw: "HTTP/1.1 301 Moved Permanently\r\nLocation: https://127.0.0.1/account\r\n" +
			"Cache-Control: max-age=60\r\nContent-Length: 0\r\n\r\n"}
	})
	h := map[string]any{"backends": []map[string]any{{"url": b.URL}}, "cache": map[string]any{}}
	startPlainAndTLS(t, spRoute(h, nil))

	// The planting request, over plain HTTP.
	r := rawGet(t, "GET https://127.0.0.1:9443/account HTTP/1.1\r\nHost: 127.0.0.1:9443\r\n\r\n")
	t.Logf("absolute-form https request over plain HTTP: %d %v", r.Status, r.Header)
	for _, req := range b.find("/account") {
		if p := req.Header.Get("X-Forwarded-Proto"); p != "http" {
			t.Errorf("a request that came over plain HTTP reached the backend with X-Forwarded-Proto %q", p)
		}
	}

	// An https client asks for the same page.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the test's own internal CA
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var code int
	var body string
	if !eventually(5*time.Second, func() bool { // the certificate is issued in the background
		resp, err := c.Get("https://" + tlsAddr + "/account")
		if err != nil {
			return false
		}
		code, body = resp.StatusCode, readBody(resp)
		return true
	}) {
		t.Fatal("no HTTPS answer from the server in 5s")
	}
	if code != 200 || body != "secure account" {
		t.Errorf("an https client got %d %q, want the backend's https answer: it was served what a plain-HTTP client stored", code, body)
	}
	// Nothing is stored under an https key: the only https answer is
	// no-store, and the plain-HTTP one belongs under http.
	if n := purge(t, `{"prefix": "GET https://"}`); n != 0 {
		t.Errorf("%d cache entries were stored under an https key by plain-HTTP requests", n)
	}
	// A plain-HTTP client still gets the redirect, told as http.
	if code, _ := get(t, &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, "/account"); code != http.StatusMovedPermanently {
		t.Errorf("a plain-HTTP client got %d, want the backend's 301 to https", code)
	}
}
