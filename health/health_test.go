package health

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestStateText(t *testing.T) {
	for _, s := range []State{Healthy, Unhealthy} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != `"`+s.String()+`"` {
			t.Fatalf("%v marshals as %s", s, b)
		}
		var back State = 9
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Fatalf("round trip of %v: %v, %v", s, back, err)
		}
	}
	if Healthy.String() != "healthy" || Unhealthy.String() != "unhealthy" || State(3).String() != "State(3)" {
		t.Fatal("String words")
	}
	if _, err := State(3).MarshalText(); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("MarshalText of State(3): %v", err)
	}
	var s State
	if err := s.UnmarshalText([]byte("sick")); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("UnmarshalText(sick): %v", err)
	}
}

func TestObserverFunc(t *testing.T) {
	var got Transition
	var o Observer = ObserverFunc(func(t Transition) { got = t })
	want := Transition{Target: "a", From: Healthy, To: Unhealthy, Reason: "r"}
	o.Observe(want)
	if got != want {
		t.Fatalf("got %+v", got)
	}
}
