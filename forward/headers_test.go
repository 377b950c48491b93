package forward

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestRemoveHopHeaders(t *testing.T) {
	h := http.Header{
		"Connection":        {"X-A, x-b", "close"},
		"X-A":               {"1"},
		"X-B":               {"2"},
		"Keep-Alive":        {"timeout=5"},
		"Proxy-Connection":  {"keep-alive"},
		"Transfer-Encoding": {"chunked"},
		"Te":                {"trailers"},
		"Upgrade":           {"websocket"},
		"X-Keep":            {"yes"},
	}
	RemoveHopHeaders(h)
	if want := (http.Header{"X-Keep": {"yes"}}); !reflect.DeepEqual(h, want) {
		t.Fatalf("got %v, want %v", h, want)
	}
}

func TestConnectionOption(t *testing.T) {
	for _, name := range []string{"close", "CLOSE", "keep-alive", "Keep-ALIVE", "upgrade", "x-a", "X-Custom-Thing"} {
		if got, want := connectionOption(name), http.CanonicalHeaderKey(name); got != want {
			t.Errorf("connectionOption(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestUpgradeType(t *testing.T) {
	cases := []struct {
		h    http.Header
		want string
	}{
		{http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, "websocket"},
		{http.Header{"Connection": {"keep-alive, upgrade"}, "Upgrade": {"h2c"}}, "h2c"},
		{http.Header{"Upgrade": {"websocket"}}, ""},
		{http.Header{"Connection": {"close"}, "Upgrade": {"websocket"}}, ""},
	}
	for _, tc := range cases {
		if got := UpgradeType(tc.h); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.h, got, tc.want)
		}
	}
}

func TestSetForwarded(t *testing.T) {
	cases := []struct {
		name       string
		trusted    bool
		tls        bool
		in         http.Header
		xff, proto string
		xfh        string
	}{
		{"untrusted client's forgeries are replaced", false, false,
			http.Header{"X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil"}},
			"192.0.2.7", "http", "example.com"},
		{"trusted proxy's values are extended", true, false,
			http.Header{"X-Forwarded-For": {"203.0.113.1"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"orig.example"}},
			"203.0.113.1, 192.0.2.7", "https", "orig.example"},
		{"tls sets https", false, true, http.Header{}, "192.0.2.7", "https", "example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://example.com/", nil)
			r.RemoteAddr = "192.0.2.7:1234"
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			out := tc.in.Clone()
			SetForwarded(out, r, tc.trusted, new([2]string))
			if got := out.Get("X-Forwarded-For"); got != tc.xff {
				t.Errorf("X-Forwarded-For %q, want %q", got, tc.xff)
			}
			if got := out.Get("X-Forwarded-Proto"); got != tc.proto {
				t.Errorf("X-Forwarded-Proto %q, want %q", got, tc.proto)
			}
			if got := out.Get("X-Forwarded-Host"); got != tc.xfh {
				t.Errorf("X-Forwarded-Host %q, want %q", got, tc.xfh)
			}
		})
	}
}

func TestClientBodyForwardsPermittedTrailers(t *testing.T) {
	in := http.Header{"X-Checksum": nil, "Content-Length": nil, "Host": nil}
	out := PermittedTrailers(in)
	if _, ok := out["Content-Length"]; ok || len(out) != 1 {
		t.Fatalf("permitted = %v, want X-Checksum only", out)
	}
	b := NewBody(bytes.NewReader([]byte("body")), in, out)
	in["X-Checksum"] = []string{"abc"}
	in["Content-Length"] = []string{"99"}
	if _, err := io.ReadAll(b); err != nil {
		t.Fatal(err)
	}
	if got := out["X-Checksum"]; len(got) != 1 || got[0] != "abc" {
		t.Fatalf("X-Checksum = %v", got)
	}
	if _, ok := out["Content-Length"]; ok {
		t.Fatal("forbidden trailer forwarded")
	}
}

func TestIsH2CUpgrade(t *testing.T) {
	for in, want := range map[string]bool{"h2c": true, "H2C": true, "websocket, h2c": true, "websocket": false, "": false} {
		if got := IsH2CUpgrade(in); got != want {
			t.Errorf("IsH2CUpgrade(%q) = %v", in, got)
		}
	}
}

// FuzzRemoveHopHeaders: whatever a Connection header lists, no hop-by-hop
// field and no listed field is left, and every other field is kept as it
// was.
func FuzzRemoveHopHeaders(f *testing.F) {
	f.Add("close", "X-A")
	f.Add("X-A, keep-alive ,, Upgrade", "x-b")
	f.Add(" \t, CLOSE,x-a", "Close")
	f.Fuzz(func(t *testing.T, conn, other string) {
		key := http.CanonicalHeaderKey(other)
		h := http.Header{"Connection": {conn}, "Keep-Alive": {"1"}, key: {"v"}}
		RemoveHopHeaders(h)
		listed := map[string]bool{}
		for _, name := range strings.Split(conn, ",") {
			if name = strings.Trim(name, " \t\r\n"); name != "" {
				listed[http.CanonicalHeaderKey(name)] = true
			}
		}
		for _, k := range hopHeaders {
			if _, ok := h[k]; ok {
				t.Fatalf("hop-by-hop %s left: %v", k, h)
			}
		}
		for k := range listed {
			if _, ok := h[k]; ok {
				t.Fatalf("%s, listed in Connection %q, left: %v", k, conn, h)
			}
		}
		hop := slices.Contains(hopHeaders, key)
		if _, ok := h[key]; ok == (hop || listed[key]) {
			t.Fatalf("field %q kept = %v, listed %v, hop-by-hop %v", key, ok, listed[key], hop)
		}
	})
}

// CopyEndToEnd leaves in dst what RemoveHopHeaders and a copy would, keeps
// what dst held that src's Connection names, and touches src only when it
// has a Connection field.
func TestCopyEndToEnd(t *testing.T) {
	cases := []struct {
		name     string
		src, dst http.Header
		want     http.Header
	}{
		{"plain", http.Header{"Content-Type": {"a"}, "Date": {"d"}}, http.Header{"Server": {"Caddy"}},
			http.Header{"Content-Type": {"a"}, "Date": {"d"}, "Server": {"Caddy"}}},
		{"every hop-by-hop name, no Connection", http.Header{
			"Proxy-Connection": {"x"}, "Keep-Alive": {"5"}, "Proxy-Authenticate": {"x"}, "Proxy-Authorization": {"x"},
			"Te": {"trailers"}, "Trailer": {"X"}, "Transfer-Encoding": {"chunked"}, "Upgrade": {"ws"},
			"Http2-Settings": {"x"}, "X-Keep": {"1"}}, http.Header{}, http.Header{"X-Keep": {"1"}}},
		{"Connection options", http.Header{"Connection": {"X-A, close"}, "X-A": {"1"}, "X-B": {"2"}, "Upgrade": {"ws"}},
			http.Header{"Server": {"Caddy"}, "X-A": {"set before"}},
			http.Header{"Server": {"Caddy"}, "X-A": {"set before"}, "X-B": {"2"}}},
		{"many fields", func() http.Header {
			h := http.Header{"Keep-Alive": {"5"}}
			for _, k := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L"} {
				h["X-"+k] = []string{k}
			}
			return h
		}(), http.Header{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.src.Clone()
			RemoveHopHeaders(ref)
			want := tc.want
			if want == nil {
				want = ref
			}
			_, hadConnection := tc.src["Connection"]
			before := tc.src.Clone()
			CopyEndToEnd(tc.dst, tc.src)
			if !reflect.DeepEqual(tc.dst, want) {
				t.Errorf("dst = %v, want %v", tc.dst, want)
			}
			if !hadConnection && !reflect.DeepEqual(tc.src, before) {
				t.Errorf("src without Connection changed: %v", tc.src)
			}
			if hadConnection && !reflect.DeepEqual(tc.src, ref) {
				t.Errorf("src with Connection = %v, want it stripped: %v", tc.src, ref)
			}
		})
	}
}

// Every name RemoveHopHeaders deletes is one CopyEndToEnd leaves out.
func TestIsHopHeaderMatchesTheList(t *testing.T) {
	for _, k := range hopHeaders {
		if !isHopHeader(k) {
			t.Errorf("%s is hop-by-hop but isHopHeader says no", k)
		}
	}
}

// FuzzCopyEndToEnd holds CopyEndToEnd, and the outbound request's copy of
// the client's header, to RemoveHopHeaders: whatever Connection lists and
// whatever the other field is called, the same fields come through.
func FuzzCopyEndToEnd(f *testing.F) {
	f.Add("close", "X-A", true)
	f.Add("X-A, keep-alive ,, Upgrade", "x-a", true)
	f.Add("", "Proxy-Connection", false)
	f.Fuzz(func(t *testing.T, conn, other string, withConn bool) {
		src := http.Header{http.CanonicalHeaderKey(other): {"v"}, "Keep-Alive": {"1"}, "Accept": {"*/*"}}
		if withConn {
			src["Connection"] = []string{conn}
		}
		want := src.Clone()
		RemoveHopHeaders(want)
		dst := http.Header{}
		CopyEndToEnd(dst, src.Clone())
		if !reflect.DeepEqual(dst, want) {
			t.Fatalf("CopyEndToEnd(%v) = %v, want %v", src, dst, want)
		}
		r := clientRequest("GET", "http://example.com/", nil, src.Clone())
		o := NewOutbound(r, true, false)
		got := o.Req.Header.Clone()
		o.Release()
		// NewOutbound adds X-Forwarded-*, a User-Agent and a Connection: Upgrade
		// pair of its own; the client's other fields must be want's.
		for k := range got {
			switch k {
			case "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "User-Agent", "Connection", "Upgrade":
				if _, ok := want[k]; !ok {
					delete(got, k)
				}
			}
		}
		for k := range want {
			if k == "User-Agent" || strings.HasPrefix(k, "X-Forwarded-") {
				delete(want, k)
				delete(got, k)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("NewOutbound kept %v of %v, want %v", got, src, want)
		}
	})
}

// Fields whose names are not tokens are dropped from a backend's answer;
// the others, whatever their case, stay.
func TestDropInvalidNames(t *testing.T) {
	h := http.Header{"Content-Type": {"a"}, "X Bad": {"1"}, "Content-Length ": {"100"}, "x-lower": {"2"},
		"": {"3"}, "X:Colon": {"4"}, "X\x7fDel": {"5"}, "X-\xc3\xa9": {"6"}, "Content-Length": {"2"}}
	if !DropInvalidNames(h) {
		t.Error("reported nothing dropped")
	}
	want := http.Header{"Content-Type": {"a"}, "x-lower": {"2"}, "Content-Length": {"2"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %v, want %v", h, want)
	}
	if DropInvalidNames(h) {
		t.Error("reported a drop from fields all named by tokens")
	}
}

// The cost of the scan on the paths that need it (h1's slow path, Caddy's
// transport): a usual answer's names, no allocation.
func BenchmarkDropInvalidNames(b *testing.B) {
	h := http.Header{"Content-Type": {"text/html"}, "Content-Length": {"1234"}, "Date": {"x"},
		"Cache-Control": {"max-age=60"}, "Etag": {`"abc"`}, "Last-Modified": {"x"}}
	b.ReportAllocs()
	for b.Loop() {
		DropInvalidNames(h)
	}
	if len(h) != 6 {
		b.Fatal(h)
	}
}
