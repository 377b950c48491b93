package smartproxy

import "testing"

// A trailer goes to the client only if it may be one and its name is a
// token: Go's chunked reader keeps "X T" and "Trailer " as it reads them.
func TestSendableTrailer(t *testing.T) {
	for name, ok := range map[string]bool{"X-T": true, "X T": false, "Content-Length": false, "Trailer ": false,
		"X-T ": false, "": false} {
		if got := sendableTrailer(name); got != ok {
			t.Errorf("sendableTrailer(%q) = %v, want %v", name, got, ok)
		}
	}
}
