package balancer

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr error
	}{
		{name: "zero config is round robin", cfg: Config{}},
		{name: "weighted", cfg: Config{Algorithm: WeightedRoundRobin, SlowStart: time.Minute}},
		{name: "hash with key", cfg: Config{Algorithm: IPHash, HashKey: headerKey}},
		{name: "unknown", cfg: Config{Algorithm: "fastest"}, wantErr: ErrUnknownAlgorithm},
		{name: "wrong case", cfg: Config{Algorithm: "Round_Robin"}, wantErr: ErrUnknownAlgorithm},
		{name: "ip_hash without key", cfg: Config{Algorithm: IPHash}, wantErr: ErrNoHashKey},
		{name: "header_hash without key", cfg: Config{Algorithm: HeaderHash}, wantErr: ErrNoHashKey},
		{name: "uri_hash without key", cfg: Config{Algorithm: URIHash}, wantErr: ErrNoHashKey},
		{name: "negative slow start", cfg: Config{SlowStart: -time.Second}, wantErr: ErrBadSlowStart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.cfg)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("New(%+v) error = %v, want %v", tc.cfg, err, tc.wantErr)
			}
			if (err == nil) != (b != nil) {
				t.Fatalf("New returned balancer %v with error %v", b, err)
			}
		})
	}
}

func TestNewZeroConfigIsRoundRobin(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*roundRobin); !ok {
		t.Fatalf("New(Config{}) = %T, want *roundRobin", b)
	}
}

func TestUnknownAlgorithmErrorNamesValueAndChoices(t *testing.T) {
	_, err := New(Config{Algorithm: "fastest"})
	msg := err.Error()
	if !strings.Contains(msg, `"fastest"`) {
		t.Errorf("error %q does not name the bad value", msg)
	}
	for _, name := range Names() {
		if !strings.Contains(msg, name) {
			t.Errorf("error %q does not list %q", msg, name)
		}
	}
}

func TestNamesAreSortedAndAllBuild(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %v, not sorted", names)
	}
	if len(names) != 9 {
		t.Errorf("Names() has %d names, want the 9 documented algorithms", len(names))
	}
	names[0] = "mutated"
	if Names()[0] == "mutated" {
		t.Error("Names() returned shared state")
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			bal := mustNew(t, Config{Algorithm: name})
			bs := makeBackends(t, 1, 2, 3)
			if got := bal.Build(bs).Pick(requestWithKey("k")); got == nil {
				t.Fatal("Pick returned nil over three live backends")
			}
		})
	}
}

func TestNeedsHashKey(t *testing.T) {
	for _, name := range Names() {
		want := strings.HasSuffix(name, "_hash")
		if got := NeedsHashKey(name); got != want {
			t.Errorf("NeedsHashKey(%q) = %v, want %v", name, got, want)
		}
	}
	if NeedsHashKey("nonsense") {
		t.Error(`NeedsHashKey("nonsense") = true`)
	}
}

// Every strategy must skip drained (weight 0) backends and return nil when
// all are drained or the set is empty.
func TestDrainedBackendsAreNeverPicked(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			bal := mustNew(t, Config{Algorithm: name})
			bs := makeBackends(t, 0, 1, 0, 2, 0)
			p := bal.Build(bs)
			for i := range 2000 {
				key := ""
				if i%2 == 0 {
					key = string(rune('a' + i%26))
				}
				got := p.Pick(requestWithKey(key))
				if got != bs[1] && got != bs[3] {
					t.Fatalf("pick %d = %v, want b1 or b3 (the others are drained)", i, got)
				}
			}
			if got := bal.Build(makeBackends(t, 0, 0, 0)).Pick(requestWithKey("k")); got != nil {
				t.Fatalf("all drained: Pick = %v, want nil", got)
			}
			if got := bal.Build(nil).Pick(requestWithKey("k")); got != nil {
				t.Fatalf("empty set: Pick = %v, want nil", got)
			}
		})
	}
}
