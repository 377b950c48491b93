package cache

import (
	"bufio"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// readRequest parses raw as a server would; tlsConn marks it as received
// over TLS.
func readRequest(t *testing.T, raw string, tlsConn bool) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if tlsConn {
		r.TLS = &tls.ConnectionState{}
	}
	return r
}

// TestKeySchemeIsTheConnections checks that the key's scheme comes from
// the connection, never from an absolute-form target the client chose.
func TestKeySchemeIsTheConnections(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		tls  bool
		want string
	}{
		{"absolute https over plain", "GET https://example.com/account HTTP/1.1\r\nHost: example.com\r\n\r\n", false, "GET http://example.com/account"},
		{"absolute http over tls", "GET http://example.com/account HTTP/1.1\r\nHost: example.com\r\n\r\n", true, "GET https://example.com/account"},
		{"origin form over tls", "GET /account HTTP/1.1\r\nHost: Example.com\r\n\r\n", true, "GET https://example.com/account"},
		{"origin form over plain", "GET /account?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", false, "GET http://example.com/account?x=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := readRequest(t, tc.raw, tc.tls)
			if got := string(DefaultKey(nil, r)); got != tc.want {
				t.Fatalf("key %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAbsoluteFormCannotPoisonHTTPS replays the attack: a redirect to
// https fetched by a plain-HTTP client naming https in its target must not
// be served to HTTPS clients.
func TestAbsoluteFormCannotPoisonHTTPS(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		if r.TLS == nil { // the backend is told the connection was plain
			w.Header().Set("Location", "https://example.com/account")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		_, _ = w.Write([]byte("account page"))
	}}
	attack := readRequest(t, "GET https://example.com/account HTTP/1.1\r\nHost: example.com\r\n\r\n", false)
	if _, err := c.Serve(httptest.NewRecorder(), attack, o.fetch); err != nil {
		t.Fatal(err)
	}
	victim := readRequest(t, "GET /account HTTP/1.1\r\nHost: example.com\r\n\r\n", true)
	w := httptest.NewRecorder()
	st, err := c.Serve(w, victim, o.fetch)
	if err != nil {
		t.Fatal(err)
	}
	if st == StatusHit || w.Code != http.StatusOK || w.Body.String() != "account page" {
		t.Fatalf("https client got %s %d %q", st, w.Code, w.Body.String())
	}
	if n := c.Purge("GET http://example.com/account"); n != 1 {
		t.Fatalf("plain response not under the http key (purged %d)", n)
	}
}

// TestInvalidationUsesConnectionScheme: an unsafe request in absolute form
// naming https over plain HTTP invalidates the http entry (what it can
// change), not the https one, and its relative Location is same-origin.
func TestInvalidationUsesConnectionScheme(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	get := &origin{handler: respond(200, "g", "Cache-Control", "max-age=600")}
	for _, tlsConn := range []bool{false, true} {
		for _, p := range []string{"/a", "/b"} {
			r := readRequest(t, "GET "+p+" HTTP/1.1\r\nHost: example.com\r\n\r\n", tlsConn)
			if _, err := c.Serve(httptest.NewRecorder(), r, get.fetch); err != nil {
				t.Fatal(err)
			}
		}
	}
	post := readRequest(t, "POST https://example.com/a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n", false)
	unsafe := &origin{handler: respond(303, "", "Location", "/b")}
	if _, err := c.Serve(httptest.NewRecorder(), post, unsafe.fetch); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{
		"GET http://example.com/a": 0, "GET http://example.com/b": 0,
		"GET https://example.com/a": 1, "GET https://example.com/b": 1,
	} {
		if n := c.Purge(key); n != want {
			t.Errorf("%s: %d stored, want %d", key, n, want)
		}
	}
}
