package forward

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{in: "/", want: "/"},
		{in: "", want: "/"},
		{in: "*", want: "*"},
		{in: "/login", want: "/login"},
		{in: "/a/b/", want: "/a/b/"},
		{in: "/.well-known/x", want: "/.well-known/x"},
		{in: "/a.b/c..d", want: "/a.b/c..d"},
		{in: "/./login", want: "/login"},
		{in: "//login", want: "/login"},
		{in: "/x/../login", want: "/login"},
		{in: "/login/.", want: "/login/"},
		{in: "/login/", want: "/login/"},
		{in: "/a/b/..", want: "/a/"},
		{in: "/a//b///c", want: "/a/b/c"},
		{in: "/a/./b/../../c", want: "/c"},
		{in: "/%61dmin", want: "/admin"},
		{in: "/%7euser", want: "/~user"},
		{in: "/x/%2e%2e/login", want: "/login"},
		{in: "/x/%2E%2e/login", want: "/login"},
		{in: "/a%2fb", want: "/a%2Fb"},
		{in: "/a%2Fb/c", want: "/a%2Fb/c"},
		{in: "/sp%20ace", want: "/sp%20ace"},
		{in: "/caf%c3%a9", want: "/caf%C3%A9"},
		{in: "/..", err: ErrPathEscape},
		{in: "/../private/secret.txt", err: ErrPathEscape},
		{in: "/%2e%2e/private/secret.txt", err: ErrPathEscape},
		{in: "/%2E%2E/private/x", err: ErrPathEscape},
		{in: "/a/../../x", err: ErrPathEscape},
		{in: "/.%2e/x", err: ErrPathEscape},
		{in: "/a/..%2f..%2fprivate", err: ErrPathHiddenDots},
		{in: "/a/..%2F", err: ErrPathHiddenDots},
		{in: "/a/..%5cx", err: ErrPathHiddenDots},
		{in: `/a/..\x`, err: ErrPathHiddenDots},
		{in: "/a/x%2F.", err: ErrPathHiddenDots},
		{in: "/a%2Fb.c", want: "/a%2Fb.c"},
		{in: "/%zz", err: ErrPathEncoding},
		{in: "/%4", err: ErrPathEncoding},
		{in: "/a%", err: ErrPathEncoding},
		{in: "/a%00b", err: ErrPathControl},
		{in: "/a%0d%0aX-Injected:1", err: ErrPathControl},
		{in: "/a\x00", err: ErrPathControl},
		{in: "a/b", err: ErrPathForm},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := CleanPath(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("CleanPath(%q) = %q, %v; want error %v", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CleanPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCleanPathCleanInputDoesNotAllocate(t *testing.T) {
	p := "/api/v1/users/42/"
	n := testing.AllocsPerRun(100, func() {
		if _, err := CleanPath(p); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}

func BenchmarkCleanPath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = CleanPath("/api/v1/users/42/profile")
	}
}

// FuzzCleanPath checks the invariants of the normal form: it is a fixed
// point, holds no dot or empty segment, decodes to no control byte, and a
// path that decodes without climbing keeps every named segment's order.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//x", "/%2e%2e/", "/a%2Fb", "/a/..%2f", "/%zz", "/.well-known", `/a\..\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		out, err := CleanPath(p)
		if err != nil {
			return
		}
		if out == "*" {
			return
		}
		again, err := CleanPath(out)
		if err != nil || again != out {
			t.Fatalf("CleanPath(%q) = %q, but CleanPath of that = %q, %v", p, out, again, err)
		}
		if !strings.HasPrefix(out, "/") || strings.Contains(out, "//") {
			t.Fatalf("CleanPath(%q) = %q: empty segment", p, out)
		}
		for seg := range strings.SplitSeq(out[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("CleanPath(%q) = %q: dot segment", p, out)
			}
		}
		dec, err := url.PathUnescape(out)
		if err != nil {
			t.Fatalf("CleanPath(%q) = %q does not unescape: %v", p, out, err)
		}
		for i := 0; i < len(dec); i++ {
			if dec[i] < 0x20 || dec[i] == 0x7f {
				t.Fatalf("CleanPath(%q) = %q decodes to a control byte", p, out)
			}
		}
		// Read with every encoded separator as a real one, the path
		// still never climbs.
		r := strings.NewReplacer("%2F", "/", "%5C", "/", `\`, "/")
		depth := 0
		for seg := range strings.SplitSeq(r.Replace(out), "/") {
			switch seg {
			case "..":
				depth--
			case "", ".":
			default:
				depth++
			}
			if depth < 0 {
				t.Fatalf("CleanPath(%q) = %q climbs when decoded", p, out)
			}
		}
	})
}
