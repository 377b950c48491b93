package cache

import (
	"net/http"
	"testing"
)

// Suite file update304.mjs: a 304 answering the cache's revalidation
// updates the headers returned now and those stored for later.
func TestConformanceUpdate304(t *testing.T) {
	lm1 := imfAt(-24 * 3600)
	cases := []conformanceCase{{id: "304-lm-use-stored-Test-Header", kind: "required", steps: []step{
		{resp: []string{"Cache-Control", "max-age=1", "Last-Modified", lm1, "Date", "@0", "Test-Header", "A"}, pause: true},
		{resp: []string{"Cache-Control", "max-age=3600", "Last-Modified", lm1, "Date", "@0"},
			want: lmValidated, wantCode: 200, wantHdr: []string{"Test-Header", "A"}},
	}}}
	headers := []struct{ name, a, b string }{
		{"Test-Header", "value-A", "value-B"},
		{"X-Test-Header", "value-A", "value-B"},
		{"Content-Foo", "value-A", "value-B"},
		{"X-Content-Foo", "value-A", "value-B"},
		{"Content-Type", "text/plain", "text/plain;charset=utf-8"},
		{"Content-MD5", "rL0Y20zC+Fzt72VPzMSk2A==", "N7UdGUp1E+RbVvZSTy1R8g=="},
		{"Content-Location", "/foo", "/bar"},
		{"Content-Security-Policy", "default-src 'self'", "default-src 'self' cdn.example.com"},
		{"X-Frame-Options", "deny", "sameorigin"},
		{"X-XSS-Protection", "1", "1; mode=block"},
		{"Cache-Control", "max-age=1", "max-age=3600"},
		{"Expires", imfAt(1), imfAt(3600)},
		{"Clear-Site-Data", "cache", "cookies"},
		{"Public-Key-Pins", "value-A", "value-B"},
		{"Set-Cookie", "a=b", "a=c"},
		{"Set-Cookie2", "a=b", "a=c"},
	}
	for _, hd := range headers {
		for _, v := range []struct{ kind, name, value, want string }{
			{"lm", "Last-Modified", lm1, lmValidated},
			{"etag", "ETag", `"` + hd.name + `-etag-1"`, etagValidated},
		} {
			mk := func(value, lifetime string) []string {
				h := []string{"Cache-Control", "max-age=" + lifetime}
				if hd.name == "Cache-Control" {
					h = []string{"A", "b"}
				}
				return append(h, "Date", "@0", v.name, v.value, hd.name, value)
			}
			var set Settings
			if hd.name == "Set-Cookie" {
				set.AllowSetCookie = true // else the first response is not stored
			}
			cases = append(cases,
				conformanceCase{id: "304-" + v.kind + "-update-response-" + hd.name, kind: "required", set: set, steps: []step{
					{resp: mk(hd.a, "1"), pause: true},
					{resp: mk(hd.b, "3600"), want: v.want, wantHdr: []string{hd.name, hd.b}},
				}},
				conformanceCase{id: "304-" + v.kind + "-update-stored-" + hd.name, kind: "required", set: set, steps: []step{
					{resp: mk(hd.a, "1"), pause: true},
					{resp: mk(hd.b, "3600"), want: v.want, pause: true},
					{want: cached, wantHdr: []string{hd.name, hd.b}},
				}})
		}
	}
	runConformance(t, cases)
}

// Suite file invalidation.mjs.
func TestConformanceInvalidation(t *testing.T) {
	location := []string{"Expires", "@100000", "Cache-Control", "max-age=100000", "Last-Modified", "@0", "Date", "@0"}
	contentLocation := []string{"Cache-Control", "max-age=100000", "Last-Modified", "@0", "Date", "@0"}
	lcl := []string{"Location", "location_target", "Content-Location", "content_location_target"}
	var cases []conformanceCase
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, "M-SEARCH"} {
		cases = append(cases,
			conformanceCase{id: "invalidate-" + m, kind: "required", steps: []step{
				{resp: freshTmpl},
				{method: m, want: notCached},
				{want: notCached},
			}},
			conformanceCase{id: "invalidate-" + m + "-failed", kind: "optimal", steps: []step{
				{resp: freshTmpl},
				{method: m, code: 500, want: notCached},
				{want: cached},
			}},
			conformanceCase{id: "invalidate-" + m + "-location", kind: "required", steps: []step{
				{path: "/location_target", resp: location},
				{method: m, resp: lcl, want: notCached},
				{path: "/location_target", resp: location, want: notCached},
			}},
			conformanceCase{id: "invalidate-" + m + "-cl", kind: "required", steps: []step{
				{path: "/content_location_target", resp: contentLocation},
				{method: m, resp: lcl, want: notCached},
				{path: "/content_location_target", resp: contentLocation, want: notCached},
			}})
	}
	runConformance(t, cases)
}

// Suite file headers.mjs: which headers of a stored response come back
// on reuse.
func TestConformanceStoredHeaders(t *testing.T) {
	store := func(name string, kept bool) conformanceCase {
		tc := conformanceCase{id: "headers-store-" + name, kind: "check", steps: []step{
			{resp: []string{name, name + "-store-value", "Cache-Control", "max-age=3600", "Date", "@0"}, pause: true},
			{want: cached},
		}}
		if kept {
			tc.steps[1].wantHdr = []string{name, name + "-store-value"}
		} else {
			tc.steps[1].wantNo = []string{name}
			tc.dev = "suite expects it stored; it is hop-by-hop (RFC 9110 §7.6.1) and never stored"
		}
		if name == "Set-Cookie" {
			tc.set.AllowSetCookie = true // else the response is not stored at all
		}
		return tc
	}
	var cases []conformanceCase
	for _, name := range []string{"Test-Header", "X-Test-Header", "Content-Type", "X-Frame-Options", "X-XSS-Protection",
		"Clear-Site-Data", "Public-Key-Pins", "Set-Cookie", "Set-Cookie2", "Strict-Transport-Security",
		"Strict-Transport-Security2", "WWW-Authenticate"} {
		cases = append(cases, store(name, true))
	}
	for _, name := range []string{"Connection", "Proxy-Authenticate", "Proxy-Connection", "Transfer-Encoding", "Upgrade"} {
		cases = append(cases, store(name, false))
	}
	cases = append(cases, conformanceCase{id: "headers-omit-headers-listed-in-Connection", kind: "required", steps: []step{
		{resp: []string{"Connection", "a, b", "a", "1", "b", "2", "c", "3", "Cache-Control", "max-age=3600", "Date", "@0"}, pause: true},
		{want: cached, wantHdr: []string{"c", "3"}, wantNo: []string{"Connection", "a", "b"}},
	}})
	runConformance(t, cases)
}
