package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	if err := s.Admin.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if n := s.ConnectedClients(); n != 1 {
		t.Errorf("ConnectedClients = %d, want 1 (Admin's)", n)
	}
	s.Kill()
	if err := s.Admin.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Kill() // a second Kill does nothing
	s.Restart()
	if err := s.Admin.Get(ctx, "k").Err(); err == nil {
		t.Error("k survived Kill and Restart; the server must start empty")
	}
}

func TestStartPassesOptions(t *testing.T) {
	s := Start(t, "--maxmemory", "7mb")
	got, err := s.Admin.ConfigGet(context.Background(), "maxmemory").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got["maxmemory"] != fmt.Sprint(7<<20) {
		t.Errorf("maxmemory = %q, want %d", got["maxmemory"], 7<<20)
	}
	s.Kill()
	s.Restart()
	if got, _ := s.Admin.ConfigGet(context.Background(), "maxmemory").Result(); got["maxmemory"] != fmt.Sprint(7<<20) {
		t.Errorf("after Restart maxmemory = %q: the options must be kept", got["maxmemory"])
	}
}

func TestFreezeThaw(t *testing.T) {
	s := Start(t)
	s.Freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := s.Admin.Ping(ctx).Err()
	cancel()
	if err == nil {
		t.Fatal("a frozen server answered PING")
	}
	s.Thaw()
	// The timed-out connection was dropped; a new one gets an answer.
	if err := s.Admin.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING after Thaw: %v", err)
	}
}

// verdict records Skip and Fatal instead of ending the test.
type verdict struct {
	testing.TB
	skipped, failed string
}

func (v *verdict) Skip(args ...any)  { v.skipped = fmt.Sprint(args...) }
func (v *verdict) Fatal(args ...any) { v.failed = fmt.Sprint(args...) }

func TestLookPathMissing(t *testing.T) {
	for _, tc := range []struct {
		ci         string
		skip, fail bool
	}{
		{ci: "", skip: true},
		{ci: "false", skip: true},
		{ci: "true", fail: true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir())
			t.Setenv("CI", tc.ci)
			v := &verdict{TB: t}
			if p := LookPath(v, "redis-server"); p != "" {
				t.Fatalf("LookPath = %q with an empty PATH", p)
			}
			if (v.skipped != "") != tc.skip || (v.failed != "") != tc.fail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", v.skipped, v.failed, tc.skip, tc.fail)
			}
			if msg := v.skipped + v.failed; !strings.Contains(msg, "redis-server package") {
				t.Errorf("message %q does not name the package to install", msg)
			}
		})
	}
}
