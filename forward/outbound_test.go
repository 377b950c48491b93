package forward

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestNewOutbound(t *testing.T) {
	for _, pooled := range []bool{false, true} {
		r := clientRequest("POST", "http://example.com/a?b=c", strings.NewReader("body"), http.Header{
			"Connection": {"X-Secret, Upgrade"}, "Upgrade": {"websocket"}, "X-Secret": {"1"},
			"Te": {"trailers, deflate"}, "X-Forwarded-For": {"6.6.6.6"}, "Keep": {"yes"},
		})
		r.Trailer = http.Header{"X-Sum": nil, "Content-Length": nil}
		o := NewOutbound(r, pooled, false)
		out := &o.Req
		want := map[string]string{
			"Connection": "Upgrade", "Upgrade": "websocket", "Te": "trailers", "Keep": "yes",
			"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Host": "example.com", "X-Forwarded-Proto": "http",
			"User-Agent": "",
		}
		for k, v := range want {
			if got, ok := out.Header[k]; !ok || len(got) != 1 || got[0] != v {
				t.Errorf("pooled %v: %s = %q, want %q", pooled, k, got, v)
			}
		}
		if _, ok := out.Header["X-Secret"]; ok {
			t.Errorf("pooled %v: a header named in Connection was forwarded", pooled)
		}
		if len(out.Header) != len(want) {
			t.Errorf("pooled %v: header %v, want exactly %v", pooled, out.Header, want)
		}
		if r.Header.Get("X-Secret") != "1" || r.Header.Get("X-Forwarded-For") != "6.6.6.6" {
			t.Errorf("pooled %v: the client's header map was modified: %v", pooled, r.Header)
		}
		if out.RequestURI != "" || out.URL == r.URL {
			t.Errorf("pooled %v: RequestURI %q, own URL %v", pooled, out.RequestURI, out.URL != r.URL)
		}
		if _, ok := out.Body.(*Body); !ok {
			t.Fatalf("pooled %v: body %T, want *Body", pooled, out.Body)
		}
		if _, ok := out.Trailer["Content-Length"]; ok || len(out.Trailer) != 1 {
			t.Errorf("pooled %v: trailers %v, want X-Sum only", pooled, out.Trailer)
		}
		if pooled {
			o.Release()
		}
	}
}

func TestNewOutboundEmptyBody(t *testing.T) {
	r := httptest.NewRequest("GET", "http://example.com/", nil)
	r.Body = io.NopCloser(strings.NewReader(""))
	r.ContentLength = 0
	if o := NewOutbound(r, false, false); o.Req.Body != nil {
		t.Fatalf("a request with Content-Length 0 goes out with body %T", o.Req.Body)
	}
}

func TestNewOutboundH2CUpgradeNotForwarded(t *testing.T) {
	r := httptest.NewRequest("GET", "http://example.com/", nil)
	r.Header = http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAAQAoAAAAAIAAAAA"}}
	out := NewOutbound(r, false, false).Req
	for _, k := range []string{"Connection", "Upgrade", "Http2-Settings"} {
		if v, ok := out.Header[k]; ok {
			t.Errorf("%s: %q forwarded", k, v)
		}
	}
}

func TestOutboundReleaseDropsReferences(t *testing.T) {
	r := httptest.NewRequest("PUT", "http://example.com/x", strings.NewReader("b"))
	o := NewOutbound(r, true, false)
	o.Release()
	if o.Req.Header != nil || o.Req.Body != nil || o.body.r != nil || len(o.hdr) != 0 || o.fwd != [2]string{} {
		t.Fatalf("a released Outbound still holds the request: %+v", o)
	}
}

func TestSetTarget(t *testing.T) {
	tests := []struct {
		target, path, want string
	}{
		{"http://10.0.0.1:80", "/a?q=1", "http://10.0.0.1:80/a?q=1"},
		{"http://10.0.0.1:80/api", "/v1/x", "http://10.0.0.1:80/api/v1/x"},
		{"h2c://10.0.0.1:80", "/a", "http://10.0.0.1:80/a"},
		{"http://10.0.0.1:80/p%2Fq", "/a%2Fb", "http://10.0.0.1:80/p%2Fq/a%2Fb"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "http://example.com"+tc.path, nil)
		o := NewOutbound(r, false, false)
		target, err := url.Parse(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		SetTarget(&o.Req, r, target)
		if got := o.Req.URL.String(); got != tc.want {
			t.Errorf("%s + %s = %s, want %s", tc.target, tc.path, got, tc.want)
		}
	}
	// The asterisk form stays "*", not "/api*", whatever the backend's path.
	r := httptest.NewRequest("OPTIONS", "*", nil)
	o := NewOutbound(r, false, false)
	SetTarget(&o.Req, r, &url.URL{Scheme: "http", Host: "10.0.0.1:80", Path: "/api"})
	if got := o.Req.URL.EscapedPath(); got != "*" {
		t.Errorf("OPTIONS * to a backend under /api goes out with path %q, want *", got)
	}
}
