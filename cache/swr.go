package cache

import (
	"context"
	"net/http"
	"time"
)

// Stale-while-revalidate (RFC 5861 §3). A stored response that is stale
// by no more than its window — the stale-while-revalidate directive of its
// Cache-Control (or targeted field), else Settings.StaleWhileRevalidate —
// is served at once, with Cache-Status "…; hit; fwd=stale;
// detail=stale-while-revalidate", and one background request per primary
// key revalidates it (conditionally when it has a validator). That request
// goes through the same coalescing as a miss, so it and concurrent misses
// for the key share one fetch. At most maxBackground run at once per
// Cache; when that many are running, a request past freshness is
// forwarded as it would be without a window. Past the window the response
// is stale as before. Never for responses marked no-cache, must-revalidate,
// proxy-revalidate or s-maxage, nor for requests with no-cache, max-age
// or min-fresh: those asked for a fresh answer.
//
// Only ServeBackground does this: it needs a context that ends the
// background work (Serve has none and forwards as before). A background
// request is cancelled when that context is done, so no revalidation
// outlives the config that started it.

// maxBackground bounds one Cache's concurrent background revalidations.
const maxBackground = 16

// Background is what ServeBackground needs to revalidate off the request.
type Background struct {
	// Context ends the background work: the requests made for it are
	// cancelled when it is done. Required.
	Context context.Context

	// Detach returns the request to send in the background in place of r,
	// which may end at any time: a copy whose context is ctx (carrying
	// whatever values fetch needs, copied so that nothing is shared with
	// r's handling). It is called in Serve's goroutine. Default:
	// r.Clone(ctx).
	Detach func(ctx context.Context, r *http.Request) *http.Request

	// Fetcher forwards the background requests. Default: the fetcher
	// of the request that started the revalidation, which suits a
	// function shared by every request but not a value bound to one
	// request's handling (it would be written to after that request's
	// end).
	Fetcher Fetcher
}

// ServeBackground is Serve with stale-while-revalidate: within a stored
// response's window it answers from the stale response and revalidates it
// with a background request (see the package's swr.go).
func (c *Cache) ServeBackground(w http.ResponseWriter, r *http.Request, fetch FetchFunc, bg Background) (Status, error) {
	return c.serve(w, r, fetch, &bg)
}

// ServeFrom is ServeBackground with the backend reached through f, which
// may be a value of the request's own (its handling's state) rather than a
// function shared by every request; bg.Fetcher, when set, is what the
// background revalidations use in its place, since they outlive r.
func (c *Cache) ServeFrom(w http.ResponseWriter, r *http.Request, f Fetcher, bg Background) (Status, error) {
	return c.serve(w, r, f, &bg)
}

// whileRevalidating reports whether stale e, at age, may answer a request
// with directives rq while it is revalidated.
func whileRevalidating(e *entry, age time.Duration, rq requestDirectives) bool {
	if e.swr <= 0 || e.noCache || e.noStale || rq.noCache || rq.maxAge != absent || rq.minFresh != absent {
		return false
	}
	stale := age - e.lifetime
	return stale > 0 && stale <= e.swr
}

// startRevalidation makes sure a background revalidation of key runs: it
// starts one, or finds one running. It reports false when none can run
// (maxBackground are busy).
func (c *Cache) startRevalidation(bg *Background, r *http.Request, fetch Fetcher, key string) bool {
	c.bgMu.Lock()
	if _, running := c.bgKeys[key]; running {
		c.bgMu.Unlock()
		return true
	}
	if len(c.bgKeys) >= maxBackground || bg.Context.Err() != nil {
		c.bgMu.Unlock()
		return false
	}
	c.bgKeys[key] = struct{}{}
	c.bgWG.Add(1)
	c.bgMu.Unlock()

	ctx, cancel := context.WithCancel(context.WithoutCancel(bg.Context))
	stop := context.AfterFunc(bg.Context, cancel)
	// Until the goroutine owns the key, a panic here (in Detach, or a nil
	// request from it) must not leave the key marked running: no
	// revalidation would ever run for it again, and bgWG would never end.
	launched := false
	defer func() {
		if !launched {
			stop()
			cancel()
			c.endRevalidation(key)
		}
	}()
	var req *http.Request
	if bg.Detach != nil {
		req = bg.Detach(ctx, r)
	} else {
		req = r.Clone(ctx)
	}
	req.Method = http.MethodGet
	req.Body, req.ContentLength = http.NoBody, 0 // r's body belongs to r's handling
	for _, f := range [...]string{"Range", "If-Range", "If-None-Match", "If-Modified-Since", "Cache-Control", "Pragma"} {
		delete(req.Header, f)
	}
	if bg.Fetcher != nil {
		fetch = bg.Fetcher
	}
	launched = true
	go func() {
		defer func() {
			_ = recover() // a fetch that panics (an aborted body) ends only this revalidation
			stop()
			cancel()
			c.endRevalidation(key)
		}()
		c.revalidate(req, fetch, key)
	}()
	return true
}

// endRevalidation marks key's background revalidation ended.
func (c *Cache) endRevalidation(key string) {
	c.bgMu.Lock()
	delete(c.bgKeys, key)
	c.bgMu.Unlock()
	c.bgWG.Done()
}

// revalidate forwards req for key as a miss would, into a writer that
// keeps nothing: what it stores is what matters.
func (c *Cache) revalidate(req *http.Request, fetch Fetcher, key string) {
	now := c.s.Now()
	e, known := c.store.get([]byte(key), req)
	rq := requestDirectives{maxAge: absent, maxStale: absent, minFresh: absent}
	if e != nil && acceptable(e, e.currentAge(now), rq) {
		return // refreshed meanwhile
	}
	_, _ = c.forward(&nowhere{h: make(http.Header)}, req, fetch, []byte(key), e, known, rq, now)
}

// nowhere is the ResponseWriter of a background revalidation.
type nowhere struct{ h http.Header }

func (n *nowhere) Header() http.Header         { return n.h }
func (n *nowhere) Write(p []byte) (int, error) { return len(p), nil }
func (n *nowhere) WriteHeader(int)             {}
