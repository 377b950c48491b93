package discovery

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestWatcherFollowsChangingAnswers(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.2", 5), rrA("api.test", "10.0.0.1", 5), rrA("api.test", "10.0.0.2", 5))
	srv.set("api.test", dnsmessage.TypeAAAA, rrAAAA("api.test", "2001:db8::1", 7))
	w, st, changes, errs := watch(t, srv, Config{Name: "api.test", Port: 8080, Refresh: 2 * time.Second, Weight: 3})

	got := recv(t, changes, "the first set")
	want := []Backend{
		{URL: "http://10.0.0.1:8080", Host: "api.test", Weight: 3},
		{URL: "http://10.0.0.2:8080", Host: "api.test", Weight: 3},
		{URL: "http://[2001:db8::1]:8080", Host: "api.test", Weight: 3},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("first set %v, want %v", got, want)
	}
	if d := recv(t, st.waits, "the first wait"); d != 5*time.Second {
		t.Fatalf("wait %v: want the shortest TTL, 5s, which is above refresh", d)
	}

	// The same records in another order are no change.
	srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.1", 1), rrA("api.test", "10.0.0.2", 1))
	st.tick <- time.Now()
	if d := recv(t, st.waits, "the second wait"); d != 2*time.Second {
		t.Fatalf("wait %v: want refresh 2s, above the TTL", d)
	}
	none(t, changes, "change for a reordered answer")

	// A new address is a change.
	srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.3", 60))
	st.tick <- time.Now()
	got = recv(t, changes, "the changed set")
	if u := urls(got); !slices.Equal(u, []string{"http://10.0.0.3:8080", "http://[2001:db8::1]:8080"}) {
		t.Fatalf("changed set %v", u)
	}
	if !slices.Equal(w.Backends(), got) {
		t.Fatalf("Backends() %v differs from the set told", w.Backends())
	}
	none(t, errs, "error")
	if s := w.Status(); s.Lookups != 3 || s.Failures != 0 || s.LastSuccess.IsZero() || s.Name != "api.test." || s.Type != "A" {
		t.Fatalf("status %+v", s)
	}
}

func TestWatcherAAAAOnly(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("v6.test", dnsmessage.TypeA, rrA("v6.test", "10.0.0.1", 5))
	srv.set("v6.test", dnsmessage.TypeAAAA, rrAAAA("v6.test", "::ffff:10.0.0.7", 5), rrAAAA("v6.test", "2001:db8::2", 5))
	_, _, changes, _ := watch(t, srv, Config{Name: "v6.test", Type: "aaaa", Scheme: "h2c", Port: 9000})
	got := urls(recv(t, changes, "the set"))
	// A mapped IPv4 address is written as IPv4; the A record is not asked for.
	if want := []string{"h2c://10.0.0.7:9000", "h2c://[2001:db8::2]:9000"}; !slices.Equal(got, want) {
		t.Fatalf("set %v, want %v", got, want)
	}
}

func TestWatcherSRV(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("_api._tcp.test", dnsmessage.TypeSRV,
		rrSRV("_api._tcp.test", "a.test", 10, 5, 8001, 30),
		rrSRV("_api._tcp.test", "b.test", 20, 0, 8002, 30),
		rrSRV("_api._tcp.test", "gone.test", 10, 9, 8003, 30),
		rrSRV("_api._tcp.test", ".", 0, 0, 0, 30))
	srv.set("a.test", dnsmessage.TypeA, rrA("a.test", "10.0.0.1", 4))
	srv.set("a.test", dnsmessage.TypeAAAA, rrAAAA("a.test", "2001:db8::1", 4))
	srv.set("b.test", dnsmessage.TypeA, rrA("b.test", "10.0.0.2", 30))
	srv.setNX("gone.test", true) // skipped: the other targets serve
	w, st, changes, _ := watch(t, srv, Config{Name: "_api._tcp.test", Type: "SRV", Scheme: "https", Refresh: time.Second})
	got := recv(t, changes, "the SRV set")
	want := []Backend{
		{URL: "https://10.0.0.1:8001", Host: "a.test", Weight: 5, Priority: 10},
		{URL: "https://10.0.0.2:8002", Host: "b.test", Weight: 1, Priority: 20},
		{URL: "https://[2001:db8::1]:8001", Host: "a.test", Weight: 5, Priority: 10},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("set\n%v, want\n%v", got, want)
	}
	if d := recv(t, st.waits, "wait"); d != 4*time.Second {
		t.Fatalf("wait %v: want 4s, the shortest TTL of the SRV and address records", d)
	}
	// A weight change in the record is a change.
	srv.set("_api._tcp.test", dnsmessage.TypeSRV, rrSRV("_api._tcp.test", "b.test", 20, 7, 8002, 30))
	st.tick <- time.Now()
	got = recv(t, changes, "the new SRV set")
	if want := []Backend{{URL: "https://10.0.0.2:8002", Host: "b.test", Weight: 7, Priority: 20}}; !slices.Equal(got, want) {
		t.Fatalf("set %v, want %v", got, want)
	}
	_ = w
}

func TestWatcherKeepsLastGoodSet(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(*dnsServer)
		want   error
	}{
		{"servfail", func(s *dnsServer) { s.setFail("api.test", dnsmessage.RCodeServerFailure) }, ErrRcode},
		{"refused", func(s *dnsServer) { s.setFail("api.test", dnsmessage.RCodeRefused) }, ErrRcode},
		{"nxdomain", func(s *dnsServer) { s.setNX("api.test", true) }, ErrNXDomain},
		{"empty", func(s *dnsServer) {
			s.set("api.test", dnsmessage.TypeA)
			s.set("api.test", dnsmessage.TypeAAAA)
		}, ErrNoRecords},
		{"resolver down", func(s *dnsServer) { s.close() }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newDNSServer(t)
			srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.1", 1))
			w, st, changes, errs := watch(t, srv, Config{Name: "api.test", Refresh: 3 * time.Second, Timeout: 300 * time.Millisecond})
			first := recv(t, changes, "the first set")
			recv(t, st.waits, "wait")

			tc.break_(srv)
			st.tick <- time.Now()
			err := recv(t, errs, "the failure")
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if d := recv(t, st.waits, "wait after failure"); d != 3*time.Second {
				t.Fatalf("wait after a failure %v, want refresh", d)
			}
			none(t, changes, "change after a failed lookup")
			if !slices.Equal(w.Backends(), first) {
				t.Fatalf("set %v after a failure, want the last good %v", w.Backends(), first)
			}
			s := w.Status()
			if s.Failures != 1 || s.ConsecutiveFailures != 1 || s.LastError != err.Error() || s.Lookups != 2 {
				t.Fatalf("status %+v", s)
			}
		})
	}
}

func TestWatcherRecovers(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.1", 1))
	w, st, changes, errs := watch(t, srv, Config{Name: "api.test", Refresh: time.Second})
	recv(t, changes, "the first set")
	recv(t, st.waits, "wait")
	srv.setFail("api.test", dnsmessage.RCodeServerFailure)
	st.tick <- time.Now()
	recv(t, errs, "the failure")
	recv(t, st.waits, "wait")
	srv.setFail("api.test", dnsmessage.RCodeSuccess)
	st.tick <- time.Now()
	recv(t, st.waits, "wait")
	none(t, changes, "change: the set after recovery is the one kept")
	if s := w.Status(); s.ConsecutiveFailures != 0 || s.LastError != "" || s.Failures != 1 {
		t.Fatalf("status after recovery %+v", s)
	}
}

func TestWatcherFirstLookupFails(t *testing.T) {
	srv := newDNSServer(t)
	srv.setNX("api.test", true)
	w, st, changes, errs := watch(t, srv, Config{Name: "api.test"})
	if err := recv(t, errs, "failure"); !errors.Is(err, ErrNXDomain) {
		t.Fatalf("error %v", err)
	}
	recv(t, st.waits, "wait")
	none(t, changes, "change")
	if w.Backends() != nil {
		t.Fatalf("backends %v before any good lookup", w.Backends())
	}
	// Once the name exists the first set is told.
	srv.setNX("api.test", false)
	srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.1", 1))
	st.tick <- time.Now()
	if got := urls(recv(t, changes, "first set")); !slices.Equal(got, []string{"http://10.0.0.1:80"}) {
		t.Fatalf("set %v", got)
	}
}

func TestNextWait(t *testing.T) {
	tests := []struct {
		refresh, ttl time.Duration
		failed       bool
		want         time.Duration
	}{
		{30 * time.Second, 5 * time.Second, false, 30 * time.Second},
		{time.Second, 300 * time.Second, false, 300 * time.Second},
		{time.Second, 0, false, time.Second},                // TTL 0: the floor
		{time.Second, 48 * time.Hour, false, MaxTTLWait},    // a hostile TTL is capped
		{0, 0, false, MinRefresh},                           // never below the floor
		{5 * time.Second, time.Hour, true, 5 * time.Second}, // a failure retries after refresh
	}
	for _, tc := range tests {
		if got := nextWait(tc.refresh, tc.ttl, tc.failed); got != tc.want {
			t.Errorf("nextWait(%v, %v, %v) = %v, want %v", tc.refresh, tc.ttl, tc.failed, got, tc.want)
		}
	}
}

func TestWatcherTTLZeroWaitsTheFloor(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.1", 0))
	_, st, changes, _ := watch(t, srv, Config{Name: "api.test", Refresh: time.Second})
	recv(t, changes, "set")
	if d := recv(t, st.waits, "wait"); d != MinRefresh {
		t.Fatalf("wait %v with TTL 0, want the floor %v", d, MinRefresh)
	}
}

func TestRefreshBeforeStart(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.1", 9))
	st := newStepper()
	var told atomic.Int32
	w, err := New(Config{Name: "api.test", Resolvers: []string{srv.addr}, Refresh: time.Second}, withStepper(st),
		OnChange(func([]Backend) { told.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if told.Load() != 1 || len(w.Backends()) != 1 {
		t.Fatalf("after Refresh: told %d, backends %v", told.Load(), w.Backends())
	}
	q := srv.udpQueries.Load()
	w.Start(t.Context())
	if d := recv(t, st.waits, "wait"); d != 9*time.Second {
		t.Fatalf("first wait after Refresh %v, want the TTL 9s", d)
	}
	if srv.udpQueries.Load() != q {
		t.Fatal("Start looked up again at once although Refresh just did")
	}
}

func TestCallbackPanicIsContained(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.1", 1))
	errs := make(chan error, 4)
	w, err := New(Config{Name: "api.test", Resolvers: []string{srv.addr}},
		OnChange(func([]Backend) { panic("boom") }), OnError(func(e error) { errs <- e }))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e := recv(t, errs, "panic report"); e == nil {
		t.Fatal("no error for the panic")
	}
	if len(w.Backends()) != 1 {
		t.Fatal("a panicking observer lost the set")
	}
}

func TestStopLeavesNoGoroutine(t *testing.T) {
	srv := newDNSServer(t)
	srv.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.1", 1))
	srv.setDrop("slow.test") // never answered over UDP: a lookup hangs until Stop
	base := runtime.NumGoroutine()
	var ws []*Watcher
	changes := make(chan []Backend, 8)
	for i := range 6 {
		name := "api.test"
		if i%2 == 1 {
			name = "slow.test"
		}
		w, err := New(Config{Name: name, Resolvers: []string{srv.addr}, Refresh: time.Second, Timeout: time.Minute},
			OnChange(func(b []Backend) { changes <- b }))
		if err != nil {
			t.Fatal(err)
		}
		w.Start(context.Background())
		ws = append(ws, w)
	}
	for range 3 {
		recv(t, changes, "a set")
	}
	start := time.Now()
	for _, w := range ws {
		w.Stop()
		w.Stop() // twice is fine
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop took %v: an in-flight lookup was not cut short", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Stop, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStopWithoutStart(t *testing.T) {
	w, err := New(Config{Name: "api.test", Resolvers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	w.Start(context.Background()) // does nothing after Stop
	w.Stop()
}
