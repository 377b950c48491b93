package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// slack is what a request may take beyond ReadTimeout while Redis is down
// or hung: scheduling on a loaded machine under -race, not waiting.
const slack = 250 * time.Millisecond // generous for a loaded CI machine; a hang would be seconds

// outage are settings for the outage tests: exact sharing, a 100 ms budget
// per request, and a probe every 20 ms so recovery shows quickly.
func outage(policy FailurePolicy, log *hookLog) Settings {
	return Settings{
		RequestsPerSecond: 1, Burst: 5, LeaseSize: 1,
		ReadTimeout: 100 * time.Millisecond, DialTimeout: 200 * time.Millisecond,
		ProbeInterval: 20 * time.Millisecond, FailurePolicy: policy, OnStateChange: log.hook,
	}
}

// timedAllow calls Allow and reports how long it took.
func timedAllow(st *Store, key string) (bool, error, time.Duration) {
	start := time.Now()
	d, err := st.Allow(context.Background(), key)
	return d.Allowed, err, time.Since(start)
}

// drain spends key's shared burst of 5 through a and checks that b is then
// refused: the two Stores share one bucket.
func drain(t *testing.T, a, b *Store, key string) {
	t.Helper()
	for i := range 5 {
		if !mustAllow(t, a, key) {
			t.Fatalf("%s: request %d of the burst refused", key, i)
		}
	}
	if mustAllow(t, b, key) {
		t.Fatalf("%s: the other store admitted past the shared burst", key)
	}
}

func TestRedisKilledFailOpenFallsBackThenRecovers(t *testing.T) {
	r := redistest.Start(t)
	var log hookLog
	a := newTestStore(t, r, outage(FailOpen, &log))
	b := newTestStore(t, r, outage(FailOpen, nil))
	drain(t, a, b, "before")

	r.Kill()
	// A key the store has no answer cached for needs Redis: the local
	// fallback (burst 5) decides, within the timeout.
	var worst time.Duration
	for i := range 8 {
		ok, err, took := timedAllow(a, "during")
		worst = max(worst, took)
		if err != nil || ok != (i < 5) {
			t.Fatalf("request %d with Redis down: allowed %v, err %v; want the local limiter's burst of 5", i, ok, err)
		}
	}
	if worst > a.Settings().ReadTimeout+slack {
		t.Fatalf("a request took %v with Redis down, timeout %v", worst, a.Settings().ReadTimeout)
	}
	if !a.Degraded() || a.Transitions() != 1 {
		t.Fatalf("degraded %v, %d transitions; want true, 1", a.Degraded(), a.Transitions())
	}
	callsWhileDown := a.RedisCalls()

	r.Restart()
	eventually(t, 5*time.Second, "recovery after the restart", func() bool { return !a.Degraded() })
	// The restarted Redis holds no buckets: a fresh key is shared again,
	// including with b, which never noticed the outage.
	drain(t, a, b, "after")
	drain(t, b, a, "after-b")
	if got := log.get(); len(got) != 2 || got[1] != "up" {
		t.Fatalf("OnStateChange calls %q, want down then up", got)
	}
	if a.RedisCalls() <= callsWhileDown {
		t.Fatal("no Redis calls after the recovery")
	}
}

func TestRedisKilledFailClosedRefuses(t *testing.T) {
	r := redistest.Start(t)
	var log hookLog
	a := newTestStore(t, r, outage(FailClosed, &log))
	b := newTestStore(t, r, outage(FailClosed, nil))
	drain(t, a, b, "before")

	r.Kill()
	for i := range 5 {
		ok, err, took := timedAllow(a, "during")
		if ok || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("request %d with Redis down: allowed %v, err %v; want ErrUnavailable", i, ok, err)
		}
		if took > a.Settings().ReadTimeout+slack {
			t.Fatalf("request %d took %v with Redis down", i, took)
		}
	}
	r.Restart()
	eventually(t, 5*time.Second, "recovery after the restart", func() bool { return !a.Degraded() })
	drain(t, a, b, "after")
}

// TestRedisHungRequestsWaitAtMostTheTimeout freezes Redis (SIGSTOP): it
// accepts connections and reads requests but never answers, the case where
// only the timeout protects a request.
func TestRedisHungRequestsWaitAtMostTheTimeout(t *testing.T) {
	r := redistest.Start(t)
	var log hookLog
	st := newTestStore(t, r, outage(FailOpen, &log))
	mustAllow(t, st, "warm") // a pooled connection exists

	r.Freeze()
	defer r.Thaw()
	type result struct {
		ok   bool
		err  error
		took time.Duration
	}
	results := make(chan result, 20)
	for i := range 20 {
		key := []string{"a", "b", "c", "d"}[i%4]
		go func() {
			ok, err, took := timedAllow(st, key)
			results <- result{ok, err, took}
		}()
	}
	var worst time.Duration
	for range 20 {
		res := <-results
		if res.err != nil || !res.ok {
			t.Fatalf("request with Redis hung: allowed %v, err %v; want the fallback's admission", res.ok, res.err)
		}
		worst = max(worst, res.took)
	}
	t.Logf("slowest request with Redis hung: %v (timeout %v)", worst, st.Settings().ReadTimeout)
	if worst > st.Settings().ReadTimeout+slack {
		t.Fatalf("a request took %v with Redis hung, timeout %v", worst, st.Settings().ReadTimeout)
	}
	if !st.Degraded() {
		t.Fatal("not degraded while Redis is hung")
	}
	r.Thaw()
	eventually(t, 5*time.Second, "recovery after SIGCONT", func() bool { return !st.Degraded() })
	if _, err := st.Allow(context.Background(), "e"); err != nil || st.Degraded() {
		t.Fatalf("after recovery: err %v, degraded %v", err, st.Degraded())
	}
}

// TestProbeNeedsAWorkingScript turns Redis into a read-only replica: it
// answers PING but refuses the script's write, so the Store must stay
// degraded until it is a primary again.
func TestProbeNeedsAWorkingScript(t *testing.T) {
	r := redistest.Start(t)
	var log hookLog
	st := newTestStore(t, r, outage(FailOpen, &log))
	ctx := context.Background()
	mustAllow(t, st, "k")

	// A primary that does not exist: the replica stays read-only.
	if err := r.Admin.Do(ctx, "REPLICAOF", "127.0.0.1", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if d, err := st.Allow(ctx, "other"); err != nil || !d.Allowed || !st.Degraded() {
		t.Fatalf("on a read-only replica: %+v, %v, degraded %v; want the fallback and degraded", d, err, st.Degraded())
	}
	if err := r.Admin.Ping(ctx).Err(); err != nil {
		t.Fatalf("the replica does not answer PING, the test proves nothing: %v", err)
	}
	// Ten probe intervals: a PING probe would have recovered by now.
	errs := st.Errors()
	eventually(t, 5*time.Second, "ten failed probes", func() bool { return st.Errors() >= errs+10 })
	if !st.Degraded() {
		t.Fatal("recovered while the script still fails")
	}
	if err := r.Admin.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "recovery once writable", func() bool { return !st.Degraded() })
	if got := log.get(); len(got) != 2 || !strings.Contains(got[0], "READONLY") {
		t.Fatalf("OnStateChange calls %q, want a READONLY failure then up", got)
	}
}
