package cache

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Range requests (RFC 9110 §14). A GET with one byte range ("bytes=0-99",
// "bytes=100-", "bytes=-50") is answered from a stored complete 200: 206
// with Content-Range and the slice of the body, or 416 with "bytes */len"
// when the range starts past the end. If-Range (an entity-tag, compared
// strongly, or an HTTP-date equal to Last-Modified) that does not match
// gets the whole 200. A Range that is not a valid single bytes range is
// ignored (the whole 200), as RFC 9110 §14.2 allows; several ranges go to
// the origin untouched, and its 206 passes through unstored.
//
// On a miss the whole response is fetched (Range and If-Range removed) and
// stored as any other; the range is then cut from it. The response is
// held, not streamed, until it is complete, and at most MaxEntryBytes of
// it: one that outgrows that is dropped and the request is sent again as
// the client made it, straight through.

// byteRange is a parsed single range: start and end (inclusive) for
// first-last, or suffix for -N.
type byteRange struct {
	start, end int64 // end -1: open-ended
	suffix     int64 // > 0 for a suffix range
}

// rangeKind says what a request's Range field asks.
type rangeKind uint8

const (
	rangeNone     rangeKind = iota // absent or ignorable: the whole response
	rangeSingle                    // one byte range: answered here
	rangeMultiple                  // several: the origin's business
)

// parseRange reads a request's Range field lines.
func parseRange(lines []string) (byteRange, rangeKind) {
	if len(lines) != 1 {
		if len(lines) > 1 {
			return byteRange{}, rangeMultiple
		}
		return byteRange{}, rangeNone
	}
	unit, spec, ok := strings.Cut(lines[0], "=")
	if !ok || !strings.EqualFold(trimOWS(unit), "bytes") {
		return byteRange{}, rangeNone
	}
	if strings.IndexByte(spec, ',') >= 0 {
		return byteRange{}, rangeMultiple
	}
	first, last, ok := strings.Cut(trimOWS(spec), "-")
	if !ok {
		return byteRange{}, rangeNone
	}
	if first == "" {
		n, ok := parseDigits(last)
		if !ok {
			return byteRange{}, rangeNone
		}
		return byteRange{suffix: n, start: -1}, rangeSingle // suffix 0 is unsatisfiable
	}
	start, ok := parseDigits(first)
	if !ok {
		return byteRange{}, rangeNone
	}
	end := int64(-1)
	if last != "" {
		if end, ok = parseDigits(last); !ok || end < start {
			return byteRange{}, rangeNone
		}
	}
	return byteRange{start: start, end: end}, rangeSingle
}

// parseDigits reads 1 to 18 decimal digits.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// resolve returns the range's first and last byte in a body of size n,
// and false when it is unsatisfiable.
func (br byteRange) resolve(n int64) (first, last int64, ok bool) {
	if br.start < 0 { // suffix
		if br.suffix == 0 || n == 0 {
			return 0, 0, false
		}
		return max(n-br.suffix, 0), n - 1, true
	}
	if br.start >= n {
		return 0, 0, false
	}
	last = n - 1
	if br.end >= 0 && br.end < last {
		last = br.end
	}
	return br.start, last, true
}

// ifRangeMatches evaluates a request's If-Range against a response's ETag
// and Last-Modified (RFC 9110 §13.1.5): an entity-tag must match strongly,
// a date must equal Last-Modified. No If-Range matches.
func ifRangeMatches(r *http.Request, etag, lastModified string) bool {
	v := r.Header["If-Range"]
	if len(v) == 0 {
		return true
	}
	cond := trimOWS(v[0])
	if strings.HasPrefix(cond, `"`) || strings.HasPrefix(cond, "W/") {
		return !strings.HasPrefix(cond, "W/") && !strings.HasPrefix(etag, "W/") && cond == etag
	}
	t, err := http.ParseTime(cond)
	lm, err2 := http.ParseTime(lastModified)
	return err == nil && err2 == nil && t.Equal(lm)
}

// writeRange answers a single-range request from a complete 200 with
// header h (already in w's map) and body: 206 with the slice, 416 when
// unsatisfiable. The caller checked If-Range.
func writeRange(w http.ResponseWriter, r *http.Request, br byteRange, body []byte) {
	wh := w.Header()
	size := int64(len(body))
	first, last, ok := br.resolve(size)
	if !ok {
		delete(wh, "Etag")
		delete(wh, "Last-Modified")
		wh["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
		wh["Content-Length"] = []string{"0"}
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	wh["Content-Range"] = []string{"bytes " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) +
		"/" + strconv.FormatInt(size, 10)}
	wh["Content-Length"] = []string{strconv.FormatInt(last-first+1, 10)}
	w.WriteHeader(http.StatusPartialContent)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body[first : last+1])
	}
}

// writeEntryRange is writeEntry for a single-range GET on a stored 200.
func (c *Cache) writeEntryRange(w http.ResponseWriter, r *http.Request, e *entry, age time.Duration, cs []string, br byteRange) {
	setOwnFields(w.Header(), e.fields, age, cs)
	writeRange(w, r, br, e.body)
}

// errRangeFillTooLarge stops a range miss's whole-response fetch that
// outgrew MaxEntryBytes.
var errRangeFillTooLarge = errors.New("cache: whole response for a range exceeds max_entry_bytes")

// rangeFill is the ResponseWriter of a range miss's whole-response fetch:
// it holds the response (at most limit body bytes) instead of sending it,
// and passes 1xx responses on to the client.
type rangeFill struct {
	client http.ResponseWriter
	h      http.Header
	code   int
	body   []byte
	limit  int
	over   bool
}

func (f *rangeFill) Header() http.Header { return f.h }

func (f *rangeFill) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		sendInterim(f.client, f.h, code)
		return
	}
	if f.code == 0 {
		f.code = code
	}
}

func (f *rangeFill) Write(p []byte) (int, error) {
	if f.code == 0 {
		f.code = http.StatusOK
	}
	if f.over || len(f.body)+len(p) > f.limit {
		f.over, f.body = true, nil
		return 0, errRangeFillTooLarge
	}
	f.body = append(f.body, p...)
	return len(p), nil
}

// Flush does nothing: the response is held until complete.
func (f *rangeFill) Flush() {}

// serveRangeMiss answers a single-range GET that the store could not:
// the whole response is fetched into a rangeFill through forward (stored
// if it may be), and the range is cut from it. A response too large to
// hold is given up, and r goes to fetch as it is.
func (c *Cache) serveRangeMiss(w http.ResponseWriter, r *http.Request, fetch Fetcher, key []byte,
	e *entry, known bool, rq requestDirectives, now time.Time, br byteRange) (Status, error) {
	whole := r.Clone(r.Context())
	delete(whole.Header, "Range")
	delete(whole.Header, "If-Range")
	fill := &rangeFill{client: w, h: make(http.Header), limit: int(c.s.MaxEntryBytes)}
	st, err := c.forward(fill, whole, fetch, key, e, known, rq, now)
	if fill.over {
		return StatusBypass, fetch.Fetch(w, r)
	}
	if err != nil {
		return st, err // nothing but 1xx reached w
	}
	wh := w.Header()
	for k, v := range fill.h {
		if !strings.HasPrefix(k, http.TrailerPrefix) {
			wh[k] = v
		}
	}
	h := fill.h
	if fill.code == http.StatusOK && ifRangeMatches(r, h.Get("Etag"), h.Get("Last-Modified")) {
		writeRange(w, r, br, fill.body)
		return st, nil
	}
	w.WriteHeader(fill.code)
	_, _ = w.Write(fill.body)
	return st, nil
}

// sendInterim writes a 1xx with the fields of h to w, then takes them out
// of w's header map again, putting back any client field of the same name.
func sendInterim(w http.ResponseWriter, h http.Header, code int) {
	wh := w.Header()
	var saved [8]field
	kept := saved[:0]
	for k, v := range h {
		if old, ok := wh[k]; ok {
			kept = append(kept, field{k, old})
		}
		wh[k] = v
	}
	w.WriteHeader(code)
	for k := range h {
		delete(wh, k)
	}
	for _, f := range kept {
		wh[f.name] = f.values
	}
}
