package cache

import (
	"net/http"
	"testing"
)

func TestUnsafeInvalidation(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		target     string
		respStatus int
		respHeader []string
		purged     []string // paths no longer cached
		kept       []string
	}{
		{"post 200 target", "POST", "/a", 200, nil, []string{"/a"}, []string{"/b", "/c"}},
		{"delete 204 target", "DELETE", "/b", 204, nil, []string{"/b"}, []string{"/a"}},
		{"put 303 location", "PUT", "/a", 303, []string{"Location", "/b"}, []string{"/a", "/b"}, []string{"/c"}},
		{"post content-location absolute", "POST", "/a", 201, []string{"Content-Location", "http://example.com/c"}, []string{"/a", "/c"}, []string{"/b"}},
		{"other origin location ignored", "POST", "/a", 201, []string{"Location", "http://evil.example/b"}, []string{"/a"}, []string{"/b"}},
		{"other scheme ignored", "POST", "/a", 201, []string{"Location", "https://example.com/b"}, []string{"/a"}, []string{"/b"}},
		{"error keeps", "POST", "/a", 500, nil, nil, []string{"/a", "/b"}},
		{"not found keeps", "PATCH", "/a", 404, nil, nil, []string{"/a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCache(t, Settings{})
			get := &origin{handler: respond(200, "g", "Cache-Control", "max-age=60")}
			for _, p := range []string{"/a", "/b", "/c"} {
				do(t, c, "GET", "http://example.com"+p, get.fetch)
			}
			unsafe := &origin{handler: respond(tc.respStatus, "u", tc.respHeader...)}
			if _, st := do(t, c, tc.method, "http://example.com"+tc.target, unsafe.fetch); st != StatusBypass {
				t.Fatalf("unsafe status %s", st)
			}
			for _, p := range tc.purged {
				if _, st := do(t, c, "GET", "http://example.com"+p, get.fetch); st == StatusHit {
					t.Errorf("%s still cached", p)
				}
			}
			for _, p := range tc.kept {
				if _, st := do(t, c, "GET", "http://example.com"+p, get.fetch); st != StatusHit {
					t.Errorf("%s not cached: %s", p, st)
				}
			}
			if got := c.Stats().Invalidations; got != uint64(len(tc.purged)) {
				t.Errorf("invalidations %d, want %d", got, len(tc.purged))
			}
		})
	}
}

func TestUnsafeImplicitOK(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	get := &origin{handler: respond(200, "g", "Cache-Control", "max-age=60")}
	do(t, c, "GET", "http://example.com/x", get.fetch)
	// A handler that writes nothing answers 200.
	_, _ = c.Serve(newDiscard(), mustRequest("POST", "http://example.com/x"), func(http.ResponseWriter, *http.Request) error { return nil })
	if _, st := do(t, c, "GET", "http://example.com/x", get.fetch); st == StatusHit {
		t.Fatal("not invalidated")
	}
}
