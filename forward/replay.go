package forward

import (
	"bytes"
	"io"
	"net/http"
	"sync/atomic"
)

// Idempotent reports whether r may be sent twice: RFC 9110's idempotent
// methods, or any request with an Idempotency-Key.
func Idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// ReplayBody makes out's body (out is the outbound copy of r, see
// NewOutbound) replayable when it is small enough: it is read into memory
// (at most maxReplay bytes) and each try gets a fresh reader over it. A
// larger body streams as usual, and the request cannot be sent again once
// sent. The returned func resets the body for another try; nil when the
// body cannot be replayed. A request without a body is always replayable;
// one whose out.Body is not the *Body NewOutbound made never is.
//
// The buffers of all requests together are bounded by budget: held is
// what this request took from it, to be given back (budget.Give) when the
// request is done, error or not. Past the budget a request is simply not
// replayable, so concurrent large uploads cannot exhaust memory.
func ReplayBody(out, r *http.Request, maxReplay int64, budget *ReplayBudget) (reset func(), held int64, err error) {
	if out.Body == nil {
		return func() {}, 0, nil
	}
	cb, ok := out.Body.(*Body)
	if !ok || r.ContentLength > maxReplay {
		return nil, 0, nil
	}
	held = maxReplay + 1
	if r.ContentLength >= 0 {
		held = r.ContentLength
	}
	if !budget.Take(held) {
		return nil, 0, nil
	}
	var buf []byte
	if r.ContentLength >= 0 {
		// Known length (the server enforces it): one exact buffer, no
		// growth garbage.
		buf = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, buf)
	} else {
		buf, err = io.ReadAll(io.LimitReader(r.Body, maxReplay+1))
	}
	if err != nil {
		return nil, held, err
	}
	if n := int64(cap(buf)); n != held {
		budget.Give(held - n)
		held = n
	}
	if cb.trailerOut != nil {
		cb.copyTrailers()
	}
	if int64(len(buf)) > maxReplay {
		// Too large after all (no Content-Length): stitch the part read
		// back in front of the rest and stream it.
		cb.r = io.MultiReader(bytes.NewReader(buf), cb.r)
		return nil, held, nil
	}
	// GetBody lets the transport resend the body on a fresh connection
	// when a pooled one turns out to be stale.
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	reset = func() {
		out.Body = io.NopCloser(bytes.NewReader(buf))
		out.ContentLength = int64(len(buf))
	}
	reset()
	return reset, held, nil
}

// ReplayBudget is a byte budget for replay buffers, taken and given back
// atomically. Its zero value has no room; make one with NewReplayBudget.
type ReplayBudget struct {
	limit int64
	held  atomic.Int64
}

// NewReplayBudget returns a budget of limit bytes.
func NewReplayBudget(limit int64) *ReplayBudget { return &ReplayBudget{limit: limit} }

// Take reserves n bytes, or reports false when that would pass the limit.
func (b *ReplayBudget) Take(n int64) bool {
	if b.held.Add(n) > b.limit {
		b.held.Add(-n)
		return false
	}
	return true
}

// Give returns n bytes to the budget.
func (b *ReplayBudget) Give(n int64) { b.held.Add(-n) }

// Held returns the bytes taken and not yet given back.
func (b *ReplayBudget) Held() int64 { return b.held.Load() }
