package forward

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestStripPrefix(t *testing.T) {
	for _, tc := range []struct{ path, prefix, want string }{
		{"/api", "/api", "/"},
		{"/api/", "/api", "/"},
		{"/api/x/y", "/api", "/x/y"},
		{"/apix", "/api", "/apix"},
		{"/other/api", "/api", "/other/api"},
		{"/ap", "/api", "/ap"},
		{"/x", "", "/x"},
		{"/a/b/c", "/a/b", "/c"},
	} {
		if got := StripPrefix(tc.path, tc.prefix); got != tc.want {
			t.Errorf("StripPrefix(%q, %q) = %q, want %q", tc.path, tc.prefix, got, tc.want)
		}
	}
}

func TestSetTargetStripped(t *testing.T) {
	for _, tc := range []struct{ target, path, strip, want string }{
		{"http://10.0.0.1:80", "/api/v1/x?q=1", "/api", "http://10.0.0.1:80/v1/x?q=1"},
		{"http://10.0.0.1:80/svc", "/api/v1", "/api", "http://10.0.0.1:80/svc/v1"},
		{"http://10.0.0.1:80/svc", "/api", "/api", "http://10.0.0.1:80/svc/"},
		{"http://10.0.0.1:80", "/apix", "/api", "http://10.0.0.1:80/apix"},
		{"http://10.0.0.1:80/p", "/api/a%2Fb", "/api", "http://10.0.0.1:80/p/a%2Fb"},
		{"http://10.0.0.1:80", "/other", "/api", "http://10.0.0.1:80/other"},
	} {
		r := httptest.NewRequest("GET", "http://example.com"+tc.path, nil)
		o := NewOutbound(r, false, false)
		target, err := url.Parse(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		SetTargetStripped(&o.Req, r, target, tc.strip)
		if got := o.Req.URL.String(); got != tc.want {
			t.Errorf("%s + %s - %s = %s, want %s", tc.target, tc.path, tc.strip, got, tc.want)
		}
	}
}

func BenchmarkSetTargetStripped(b *testing.B) {
	r := httptest.NewRequest("GET", "http://example.com/api/v1/users?x=1", nil)
	o := NewOutbound(r, true, false)
	target, _ := url.Parse("http://10.0.0.1:8080")
	b.ReportAllocs()
	for b.Loop() {
		SetTargetStripped(&o.Req, r, target, "/api")
	}
}
