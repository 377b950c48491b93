package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/ratelimit"
)

// fakeClock is a Now seam that moves only when told.
type fakeClock struct {
	base time.Time
	off  atomic.Int64
}

func newFakeClock() *fakeClock               { return &fakeClock{base: time.Now()} }
func (c *fakeClock) Now() time.Time          { return c.base.Add(time.Duration(c.off.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// fakeRedis stands in for the script and PING, answering with reply.
type fakeRedis struct {
	mu    sync.Mutex
	wants []int // the token counts asked for, call by call
	reply func(want int) (grant, error)
	// gate, when not nil, holds every call until it is closed.
	gate    chan struct{}
	pingErr atomic.Pointer[error]
}

func (f *fakeRedis) call(ctx context.Context, rkey string, a *ask) (grant, error) {
	want, err := strconv.Atoi(a.args[2].(string))
	if err != nil || want != a.want {
		panic(fmt.Sprintf("ask for %d tokens has argument %v", a.want, a.args[2]))
	}
	f.mu.Lock()
	f.wants = append(f.wants, want)
	gate, reply := f.gate, f.reply
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return reply(want)
}

func (f *fakeRedis) ping(context.Context) error {
	if p := f.pingErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (f *fakeRedis) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.wants)
}

// plenty grants everything asked for from a bucket that never runs dry.
func plenty(want int) (grant, error) {
	return grant{granted: want, left: 100, full: time.Second}, nil
}

var errDown = errors.New("connection refused")

// newFakeStore makes a Store on f with s (Address filled in), clocked by c.
func newFakeStore(t testing.TB, s Settings, f *fakeRedis, c *fakeClock) *Store {
	t.Helper()
	s.Address = "127.0.0.1:1"
	if c != nil {
		s.Now = c.Now
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	s = s.withDefaults()
	fb, err := ratelimit.New(ratelimit.Settings{
		RequestsPerSecond: s.RequestsPerSecond, Burst: s.Burst, Global: s.Global, Now: s.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(s, fb, nil, f.call, f.ping)
	t.Cleanup(func() { st.Close() })
	return st
}

// seed are the seed config's limits: 100 requests/s, burst 10, so L = 5 and
// D = 50 ms.
var seed = Settings{RequestsPerSecond: 100, Burst: 10}

func allow(t testing.TB, st *Store, key string) ratelimit.Decision {
	t.Helper()
	d, err := st.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

func TestLeaseServesWithoutRedis(t *testing.T) {
	f := &fakeRedis{reply: plenty}
	c := newFakeClock()
	st := newFakeStore(t, seed, f, c)
	for i := range 5 {
		d := allow(t, st, "k")
		if !d.Allowed || d.Remaining != 100+4-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i, d, 100+4-i)
		}
	}
	if n := f.calls(); n != 1 {
		t.Fatalf("5 requests with a lease of 5 made %d Redis calls, want 1", n)
	}
	if f.wants[0] != 5 {
		t.Fatalf("asked Redis for %d tokens, want the lease size 5", f.wants[0])
	}
	allow(t, st, "k")
	if n := f.calls(); n != 2 {
		t.Fatalf("the 6th request made %d calls in all, want 2", n)
	}
	// 4 tokens are left; after D they are dropped, not spent.
	c.advance(50 * time.Millisecond)
	allow(t, st, "k")
	if n := f.calls(); n != 3 {
		t.Fatalf("a request after the lease expired made %d calls in all, want 3", n)
	}
}

func TestRefusalIsCachedUntilTheNextToken(t *testing.T) {
	tests := []struct {
		name     string
		next     time.Duration // the reply's time to the next token
		localFor time.Duration // how long refusals stay local
	}{
		{"short wait", 20 * time.Millisecond, 20 * time.Millisecond},
		{"capped at a second", 5 * time.Second, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRedis{reply: func(int) (grant, error) {
				return grant{next: tc.next, full: 2 * tc.next}, nil
			}}
			c := newFakeClock()
			st := newFakeStore(t, seed, f, c)
			d := allow(t, st, "k")
			if d.Allowed || d.RetryAfter != tc.next || d.Reset != 2*tc.next {
				t.Fatalf("first refusal %+v, want RetryAfter %v, Reset %v", d, tc.next, 2*tc.next)
			}
			c.advance(tc.localFor - time.Millisecond)
			d = allow(t, st, "k")
			if d.Allowed || d.RetryAfter != tc.next-tc.localFor+time.Millisecond {
				t.Fatalf("cached refusal %+v, RetryAfter want %v", d, tc.next-tc.localFor+time.Millisecond)
			}
			if n := f.calls(); n != 1 {
				t.Fatalf("a cached refusal made a Redis call (%d in all)", n)
			}
			c.advance(time.Millisecond)
			allow(t, st, "k")
			if n := f.calls(); n != 2 {
				t.Fatalf("after %v Redis was not asked again (%d calls)", tc.localFor, n)
			}
		})
	}
}

// waiters reports how many requests wait for key's call in flight, or -1.
func waiters(st *Store, key string) int {
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.Lock()
		e := sh.index[key]
		n := -1
		if e != nil && e.flight != nil {
			n = e.flight.waiters
		}
		sh.mu.Unlock()
		if n >= 0 {
			return n
		}
	}
	return -1
}

func TestConcurrentRequestsShareOneCall(t *testing.T) {
	gate := make(chan struct{})
	f := &fakeRedis{reply: plenty, gate: gate}
	st := newFakeStore(t, seed, f, newFakeClock())
	const n = 50
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if allow(t, st, "hot").Allowed {
				admitted.Add(1)
			}
		})
	}
	eventually(t, 10*time.Second, "49 requests waiting for the first call", func() bool {
		return waiters(st, "hot") == n-1
	})
	if c := f.calls(); c != 1 {
		t.Fatalf("%d concurrent requests made %d Redis calls before the first returned, want 1", n, c)
	}
	f.mu.Lock()
	f.gate = nil
	f.mu.Unlock()
	close(gate)
	wg.Wait()
	if admitted.Load() != n {
		t.Fatalf("admitted %d of %d from a bucket that never runs dry", admitted.Load(), n)
	}
	// Every call brings 5 tokens and every token finds a request.
	if c := f.calls(); c != n/5 {
		t.Fatalf("%d requests with leases of 5 made %d calls, want %d", n, c, n/5)
	}
}

func TestWaitersShareTheLeadersFailure(t *testing.T) {
	for _, policy := range []FailurePolicy{FailOpen, FailClosed} {
		t.Run(string(policy), func(t *testing.T) {
			gate := make(chan struct{})
			f := &fakeRedis{gate: gate, reply: func(int) (grant, error) { return grant{}, errDown }}
			s := seed
			s.FailurePolicy = policy
			st := newFakeStore(t, s, f, newFakeClock())
			const n = 8
			errs := make(chan error, n)
			allowed := make(chan bool, n)
			for range n {
				go func() {
					d, err := st.Allow(context.Background(), "k")
					errs <- err
					allowed <- d.Allowed
				}()
			}
			eventually(t, 10*time.Second, "waiters", func() bool { return waiters(st, "k") == n-1 })
			close(gate)
			for range n {
				err, ok := <-errs, <-allowed
				switch policy {
				case FailOpen:
					// The fallback limiter has a full burst of 10.
					if err != nil || !ok {
						t.Fatalf("fail_open: allowed %v, err %v; want the fallback's admission", ok, err)
					}
				case FailClosed:
					if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errDown) || ok {
						t.Fatalf("fail_closed: allowed %v, err %v; want ErrUnavailable wrapping the cause", ok, err)
					}
				}
			}
			if f.calls() != 1 || st.Errors() != 1 || !st.Degraded() {
				t.Fatalf("calls %d, errors %d, degraded %v; want 1, 1, true", f.calls(), st.Errors(), st.Degraded())
			}
		})
	}
}

func TestWaiterGivesUpWithItsContext(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	f := &fakeRedis{reply: plenty, gate: gate}
	st := newFakeStore(t, seed, f, newFakeClock())
	go st.Allow(context.Background(), "k")
	eventually(t, 10*time.Second, "leader in flight", func() bool { return waiters(st, "k") == 0 })
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := st.Allow(ctx, "k")
		res <- err
	}()
	eventually(t, 10*time.Second, "waiter", func() bool { return waiters(st, "k") == 1 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter returned %v, want context.Canceled", err)
	}
}

func TestWaiterOutOfTimeUsesThePolicy(t *testing.T) {
	gate := make(chan struct{})
	// Each call brings one token, which its leader spends.
	f := &fakeRedis{gate: gate, reply: func(int) (grant, error) {
		return grant{granted: 1, left: 100, full: time.Second}, nil
	}}
	c := newFakeClock()
	s := seed
	s.FailurePolicy = FailClosed
	st := newFakeStore(t, s, f, c)
	go st.Allow(context.Background(), "k")
	eventually(t, 10*time.Second, "leader in flight", func() bool { return waiters(st, "k") == 0 })
	res := make(chan error, 1)
	go func() {
		_, err := st.Allow(context.Background(), "k")
		res <- err
	}()
	eventually(t, 10*time.Second, "waiter", func() bool { return waiters(st, "k") == 1 })
	c.advance(DefaultReadTimeout)
	close(gate)
	if err := <-res; !errors.Is(err, errBusy) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("waiter past its deadline returned %v, want ErrUnavailable wrapping errBusy", err)
	}
	if st.Degraded() {
		t.Fatal("a busy key made the store degraded")
	}
}

func TestLeaseTableIsBounded(t *testing.T) {
	f := &fakeRedis{reply: plenty}
	c := newFakeClock()
	s := seed
	s.MaxKeys = 64
	st := newFakeStore(t, s, f, c)
	for i := range 1000 {
		if !allow(t, st, "key"+strconv.Itoa(i)).Allowed {
			t.Fatalf("key %d refused", i)
		}
	}
	if k := st.Keys(); k > 64 {
		t.Fatalf("%d keys held, MaxKeys 64", k)
	}
	direct := 0
	for _, w := range f.wants {
		if w == 1 {
			direct++
		}
	}
	if direct < 1000-64 {
		t.Fatalf("%d of 1000 keys were decided without a lease, want at least %d", direct, 1000-64)
	}
	// Once the leases are over, new keys sweep the dead ones and get
	// leases again.
	c.advance(time.Second)
	f.mu.Lock()
	f.wants = nil
	f.mu.Unlock()
	for i := range 32 {
		allow(t, st, "new"+strconv.Itoa(i))
	}
	for i, w := range f.wants {
		if w != 5 {
			t.Fatalf("new key %d after the sweep asked for %d tokens, want a lease of 5", i, w)
		}
	}
	if k := st.Keys(); k > 64 {
		t.Fatalf("%d keys held after the sweep, MaxKeys 64", k)
	}
}
