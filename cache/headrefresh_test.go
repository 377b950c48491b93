package cache

import (
	"net/http"
	"testing"
	"time"
)

// TestHeadFreshens_RFC9111_4_3_5: a HEAD forwarded for a stale stored GET
// response updates its headers and freshness when the validators match,
// and leaves it alone when they do not.
func TestHeadFreshens_RFC9111_4_3_5(t *testing.T) {
	tests := []struct {
		name  string
		get   []string // the stored GET response's fields
		head  []string // the HEAD response's fields
		fresh bool     // a GET after the HEAD is a hit with X-V: 2
	}{
		{"same ETag", []string{"ETag", `"a"`}, []string{"ETag", `"a"`}, true},
		{"same Last-Modified", []string{"Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"},
			[]string{"Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"}, true},
		{"other ETag", []string{"ETag", `"a"`}, []string{"ETag", `"b"`}, false},
		{"ETag gone", []string{"ETag", `"a"`}, nil, false},
		{"no validators", nil, nil, false},
		{"other length", []string{"ETag", `"a"`}, []string{"ETag", `"a"`, "Content-Length", "99"}, false},
		{"HEAD says no-store", []string{"ETag", `"a"`}, []string{"ETag", `"a"`, "Cache-Control", "no-store"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, Settings{})
			o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodHead {
					respond(200, "", append([]string{"Cache-Control", "max-age=100", "X-V", "2"}, tt.head...)...)(w, r)
					return
				}
				if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
					w.WriteHeader(http.StatusNotModified) // keeps X-V: 1
					return
				}
				respond(200, "body", append([]string{"Cache-Control", "max-age=10", "X-V", "1"}, tt.get...)...)(w, r)
			}}
			do(t, c, "GET", "http://example.com/h", o.fetch)
			clk.Advance(time.Minute)
			if w, _ := do(t, c, "HEAD", "http://example.com/h", o.fetch); w.Code != 200 || w.Header().Get("X-V") != "2" {
				t.Fatalf("HEAD answered %d %v", w.Code, w.Header())
			}
			w, st := do(t, c, "GET", "http://example.com/h", o.fetch)
			fresh := st == StatusHit && w.Header().Get("X-V") == "2" && w.Body.String() == "body"
			if fresh != tt.fresh {
				t.Errorf("GET after HEAD: %v X-V %q body %q; want freshened %v", st, w.Header().Get("X-V"), w.Body, tt.fresh)
			}
			if tt.fresh && w.Header().Get("Content-Length") != "4" {
				t.Errorf("Content-Length %q after the refresh", w.Header().Get("Content-Length"))
			}
		})
	}
}
