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

// TestVaryComparison checks which request values select the same variant.
func TestVaryComparison(t *testing.T) {
	tests := []struct {
		name string
		a, b []string // values of the field (nil: absent)
		vary string
		same bool
	}{
		{"user case matters", []string{"Alice"}, []string{"alice"}, "X-User", false},
		{"user identical", []string{"Alice"}, []string{"Alice"}, "X-User", true},
		{"codings fold", []string{"GZIP, br"}, []string{"gzip,br"}, "Accept-Encoding", true},
		{"language folds", []string{"en-US"}, []string{"en-us"}, "Accept-Language", true},
		{"charset folds", []string{"UTF-8"}, []string{"utf-8"}, "Accept-Charset", true},
		{"accept does not fold", []string{"text/HTML"}, []string{"text/html"}, "Accept", false},
		{"whitespace around commas", []string{"a ,  b"}, []string{"a,b"}, "X-List", true},
		{"lines join like commas", []string{"a", "b"}, []string{"a, b"}, "X-List", true},
		{"quoted comma kept", []string{`"a , b"`}, []string{`"a,b"`}, "X-List", false},
		{"escaped quote stays quoted", []string{`"x\" , y"`}, []string{`"x\",y"`}, "X-List", false},
		{"empty is not absent", []string{""}, nil, "X-User", false},
		{"inner space matters", []string{"a b"}, []string{"ab"}, "X-User", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ra, rb := mustRequest("GET", "http://example.com/"), mustRequest("GET", "http://example.com/")
			name := http.CanonicalHeaderKey(tc.vary)
			if tc.a != nil {
				ra.Header[name] = tc.a
			}
			if tc.b != nil {
				rb.Header[name] = tc.b
			}
			ka := string(appendSecondaryKey(nil, ra, []string{name}))
			kb := string(appendSecondaryKey(nil, rb, []string{name}))
			if (ka == kb) != tc.same {
				t.Fatalf("keys %q and %q: same = %v, want %v", ka, kb, ka == kb, tc.same)
			}
		})
	}
}

// TestVaryUserNotFolded replays the attack: X-User: Alice's page must not
// be served to alice.
func TestVaryUserNotFolded(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "X-User")
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write([]byte("page of " + r.Header.Get("X-User")))
	}}
	do(t, c, "GET", "http://example.com/me", o.fetch, "X-User", "Alice")
	w, st := do(t, c, "GET", "http://example.com/me", o.fetch, "X-User", "alice")
	if st == StatusHit || w.Body.String() != "page of alice" {
		t.Fatalf("alice got %s %q", st, w.Body.String())
	}
}

// FuzzVaryNormalise checks that the secondary-key normalisation of a field
// value is idempotent, never grows the value, and folds case only when
// asked.
func FuzzVaryNormalise(f *testing.F) {
	for _, s := range []string{"gzip, br", ` "a , b" , c `, `"x\" ,y"`, `"open , x`, "A,\tB ,C", `\`, `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, fold := range []bool{false, true} {
			once := string(appendNormalisedList(nil, v, fold))
			if twice := string(appendNormalisedList(nil, once, fold)); twice != once {
				t.Fatalf("not idempotent (fold %v): %q -> %q -> %q", fold, v, once, twice)
			}
			if len(once) > len(v) {
				t.Fatalf("grew: %q -> %q", v, once)
			}
			if !fold && strings.ToLower(once) != string(appendNormalisedList(nil, strings.ToLower(v), false)) {
				// Case is kept byte for byte: lower-casing commutes with
				// normalising, so nothing but whitespace was touched.
				t.Fatalf("case not kept: %q -> %q", v, once)
			}
		}
	})
}
