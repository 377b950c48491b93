package backend

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // canonical form when valid
		wantErr error
	}{
		{name: "http default port", in: "http://example.com", want: "http://example.com:80"},
		{name: "https default port", in: "https://example.com", want: "https://example.com:443"},
		{name: "h2c default port", in: "h2c://example.com", want: "h2c://example.com:80"},
		{name: "explicit port kept", in: "http://localhost:3001", want: "http://localhost:3001"},
		{name: "scheme and host lowercased", in: "HTTPS://Example.COM:8443", want: "https://example.com:8443"},
		{name: "trailing slash dropped", in: "http://localhost:3001/", want: "http://localhost:3001"},
		{name: "path prefix kept", in: "http://a.test/api/v1/", want: "http://a.test:80/api/v1"},
		{name: "surrounding space trimmed", in: "  http://a.test  ", want: "http://a.test:80"},
		{name: "ipv4", in: "http://127.0.0.1:9000", want: "http://127.0.0.1:9000"},
		{name: "ipv6 default port", in: "http://[::1]", want: "http://[::1]:80"},
		{name: "ipv6 with port", in: "https://[2001:DB8::1]:8443", want: "https://[2001:db8::1]:8443"},
		{name: "empty port filled", in: "http://a.test:", want: "http://a.test:80"},
		{name: "empty", in: "", wantErr: ErrBadURL},
		{name: "blank", in: "   ", wantErr: ErrBadURL},
		{name: "bad scheme", in: "ftp://a.test", wantErr: ErrBadURL},
		{name: "no scheme", in: "localhost:3001", wantErr: ErrBadURL},
		{name: "relative", in: "/api", wantErr: ErrBadURL},
		{name: "missing host", in: "http://", wantErr: ErrBadURL},
		{name: "port without host", in: "http://:8080", wantErr: ErrBadURL},
		{name: "user info", in: "http://user:pass@a.test", wantErr: ErrBadURL},
		{name: "query", in: "http://a.test/?x=1", wantErr: ErrBadURL},
		{name: "fragment", in: "http://a.test/#top", wantErr: ErrBadURL},
		{name: "unparsable", in: "://bad", wantErr: ErrBadURL},
		{name: "space in host", in: "http://a test", wantErr: ErrBadURL},
		{name: "bad escape", in: "http://a.test/%zz", wantErr: ErrBadURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := Parse(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want %v", tc.in, err, tc.wantErr)
				}
				if tc.in != "" && !strings.Contains(err.Error(), tc.in) {
					t.Errorf("error %q does not name the bad value %q", err, tc.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := u.String(); got != tc.want {
				t.Fatalf("Parse(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		weight  int
		want    string
		wantErr error
	}{
		{name: "weight 1", url: "http://a.test", weight: 1, want: "http://a.test:80"},
		{name: "weight 0 is drained, not an error", url: "http://a.test", weight: 0, want: "http://a.test:80"},
		{name: "heavy", url: "https://a.test", weight: 100, want: "https://a.test:443"},
		{name: "negative weight", url: "http://a.test", weight: -1, wantErr: ErrBadWeight},
		{name: "largest weight", url: "http://a.test", weight: MaxWeight, want: "http://a.test:80"},
		{name: "weight above the largest", url: "http://a.test", weight: MaxWeight + 1, wantErr: ErrBadWeight},
		{name: "bad url", url: "ftp://a.test", weight: 1, wantErr: ErrBadURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.url, tc.weight)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("New(%q, %d) error = %v, want %v", tc.url, tc.weight, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if b.Name != tc.want || b.URL.String() != tc.want || b.Weight() != tc.weight {
				t.Fatalf("New(%q, %d) = {Name %q, URL %q, Weight %d}, want %q weight %d",
					tc.url, tc.weight, b.Name, b.URL, b.Weight(), tc.want, tc.weight)
			}
		})
	}
}

// Two spellings of one upstream get one canonical name.
func TestCanonicalNamesAgree(t *testing.T) {
	spellings := []string{"http://LOCALHOST:80", "http://localhost", "http://localhost/", " HTTP://localhost:80/ "}
	want, err := New(spellings[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range spellings[1:] {
		b, err := New(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		if b.Name != want.Name {
			t.Errorf("New(%q).Name = %q, want %q", s, b.Name, want.Name)
		}
	}
}

// FuzzParse checks what every accepted URL must satisfy: an allowed scheme,
// a host with a port, no user info, query or fragment, and a name that
// parses again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"http://a.test", "https://[::1]:8443/x/", "h2c://A:1", "ftp://x", "http://u@h", "://", "http://a:/p%20q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrBadURL", s, err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "h2c" {
			t.Fatalf("Parse(%q) accepted scheme %q", s, u.Scheme)
		}
		if u.Hostname() == "" || u.Port() == "" {
			t.Fatalf("Parse(%q) = %q: host or port missing", s, u)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("Parse(%q) = %q kept user info, query or fragment", s, u)
		}
		if _, err := Parse(u.String()); err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse again: %v", s, u, err)
		}
	})
}

func TestInFlight(t *testing.T) {
	b, err := New("http://a.test", 1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				b.Acquire()
				if b.InFlight() < 1 {
					t.Error("in flight below 1 while holding a request")
				}
				b.Release()
			}
		})
	}
	wg.Wait()
	if n := b.InFlight(); n != 0 {
		t.Fatalf("InFlight = %d after balanced Acquire/Release, want 0", n)
	}
}

func TestLatencyEWMA(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	type obs struct {
		at time.Duration // since t0
		d  time.Duration
	}
	tests := []struct {
		name string
		obs  []obs
		at   time.Duration // Latency read at t0+at
		want time.Duration
	}{
		{name: "nothing observed", at: time.Minute, want: 0},
		{name: "first observation", obs: []obs{{0, ms(100)}}, at: 0, want: ms(100)},
		{name: "decays by 1/e per time constant", obs: []obs{{0, ms(100)}}, at: ewmaDecay, want: ms(100 / math.E)},
		{name: "decays towards zero", obs: []obs{{0, ms(100)}}, at: 10 * ewmaDecay, want: ms(100 * math.Exp(-10))},
		{name: "faster observation blends", obs: []obs{{0, ms(100)}, {ewmaDecay, ms(10)}}, at: ewmaDecay,
			want: ms(100/math.E + 10*(1-1/math.E))},
		{name: "same-instant faster observation ignored", obs: []obs{{0, ms(100)}, {0, ms(10)}}, at: 0, want: ms(100)},
		{name: "slower observation is the new peak", obs: []obs{{0, ms(10)}, {time.Second, ms(500)}}, at: time.Second, want: ms(500)},
		{name: "no decay backwards in time", obs: []obs{{time.Minute, ms(100)}}, at: 0, want: ms(100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New("http://a.test", 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tc.obs {
				b.ObserveLatency(o.d, t0.Add(o.at))
			}
			got := b.Latency(t0.Add(tc.at))
			if diff := got - tc.want; diff < -time.Microsecond || diff > time.Microsecond {
				t.Fatalf("Latency = %v, want %v", got, tc.want)
			}
		})
	}
}

// A slow streak fades: after the backend turns fast again, its figure falls
// back towards the fast latency within a few time constants.
func TestLatencyRecoversFromSlowStreak(t *testing.T) {
	b, err := New("http://a.test", 1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 10 {
		b.ObserveLatency(time.Second, now)
		now = now.Add(100 * time.Millisecond)
	}
	for range 400 { // 40s of 10ms responses
		b.ObserveLatency(10*time.Millisecond, now)
		now = now.Add(100 * time.Millisecond)
	}
	if got := b.Latency(now); got > 40*time.Millisecond {
		t.Fatalf("Latency after 40s of 10ms responses = %v, want below 40ms", got)
	}
}

func TestMarkAvailable(t *testing.T) {
	b, err := New("http://a.test", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !b.AvailableSince().IsZero() {
		t.Fatalf("new backend AvailableSince = %v, want zero (since forever)", b.AvailableSince())
	}
	at := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	b.MarkAvailable(at)
	if got := b.AvailableSince(); !got.Equal(at) {
		t.Fatalf("AvailableSince = %v, want %v", got, at)
	}
	b.MarkAvailable(time.Time{})
	if !b.AvailableSince().IsZero() {
		t.Fatalf("after MarkAvailable(zero) AvailableSince = %v, want zero", b.AvailableSince())
	}
}

func TestParseIsIdempotent(t *testing.T) {
	for _, in := range []string{"http://a//", "HTTP://A:8080/x/", "https://b", "h2c://c:9000///"} {
		u, err := Parse(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		again, err := Parse(u.String())
		if err != nil || again.String() != u.String() {
			t.Fatalf("%q -> %q -> %v, %v", in, u, again, err)
		}
	}
	if u, err := Parse("http://[::1]:8080"); err != nil || u.String() != "http://[::1]:8080" {
		t.Errorf("bracketed IPv6: %v, %v", u, err)
	}
	for _, bad := range []string{"http://a:0", "http://a:99999", "http://a:-1", "h2C://::", "http://::1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// SetWeight changes the weight live under the same rule as New.
func TestSetWeight(t *testing.T) {
	b, err := New("http://a.test", 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		w, want int
		wantErr error
	}{
		{name: "heavier", w: 3, want: 3},
		{name: "drained", w: 0, want: 0},
		{name: "negative keeps the weight", w: -1, want: 0, wantErr: ErrBadWeight},
		{name: "too large keeps the weight", w: MaxWeight + 1, want: 0, wantErr: ErrBadWeight},
		{name: "largest", w: MaxWeight, want: MaxWeight},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.SetWeight(tc.w); !errors.Is(err, tc.wantErr) {
				t.Fatalf("SetWeight(%d) = %v, want %v", tc.w, err, tc.wantErr)
			}
			if got := b.Weight(); got != tc.want {
				t.Fatalf("after SetWeight(%d): Weight() = %d, want %d", tc.w, got, tc.want)
			}
		})
	}
}
