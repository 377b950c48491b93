package fielderr

import (
	"errors"
	"fmt"
	"testing"
)

func TestError(t *testing.T) {
	sentinel := errors.New("invalid settings")
	var err error = New("burst", 0, fmt.Errorf("%w: burst must be at least 1, got 0", sentinel))
	wrapped := fmt.Errorf("building limiter: %w", err)
	var fe *Error
	if !errors.As(wrapped, &fe) || fe.Field != "burst" || fe.Value != 0 {
		t.Fatalf("errors.As: %+v", fe)
	}
	if !errors.Is(wrapped, sentinel) {
		t.Fatal("the sentinel is not found through the field error")
	}
	if got := err.Error(); got != "invalid settings: burst must be at least 1, got 0" {
		t.Fatalf("message %q: a field error must not change the library's message", got)
	}
}
