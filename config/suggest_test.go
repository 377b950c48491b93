package config

import "testing"

func TestSuggest(t *testing.T) {
	known := []string{"interval", "timeout", "path", "health_check", "unhealthy_threshold"}
	for _, tc := range []struct{ key, want string }{
		{"intervall", "interval"},
		{"Timeout", "timeout"},
		{"pth", "path"},
		{"helth_chek", "health_check"},
		{"health", "health_check"},
		{"unhealty_treshold", "unhealthy_threshold"},
		{"zzz", ""},
		{"completely_unrelated_key", ""},
	} {
		if got := Nearest(tc.key, known); got != tc.want {
			t.Errorf("Nearest(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	if d := distance("kitten", "sitting"); d != 3 {
		t.Errorf("distance = %d, want 3", d)
	}
}
