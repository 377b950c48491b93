package cache

// Table tests mirroring the shared-cache cases of the HTTP cache test
// suite (github.com/http-tests/cache-tests, tests/*.mjs). Each case is
// named by the suite's test id. The harness below plays the suite's
// server: every step gives the response the origin sends if the request
// reaches it, and the origin answers a conditional request whose
// validator matches that response with a 304 carrying its headers.
//
// Kinds follow the suite: "required" (conformance), "optimal" (should)
// and "check" (informational). A case whose dev field is set asserts
// what this cache does where that differs from the suite's expectation
// in a way RFC 9111 permits (or that a setting selects); the field says
// why.

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pause is the suite's pause_after: the clock moves this far after a step.
const pause = 3 * time.Second

// Expected outcomes of a step (the suite's expected_type).
const (
	cached        = "cached"         // fetch was not called
	notCached     = "not_cached"     // fetch was called (validation counts)
	validated     = "validated"      // the origin answered a conditional request with 304
	etagValidated = "etag_validated" // ... matched by If-None-Match
	lmValidated   = "lm_validated"   // ... matched by If-Modified-Since
)

// step is one request of a case, with the response the origin gives if it
// is reached, and what to check. Header values "@N" stand for the
// IMF-fixdate N seconds from the driven clock's time at that step, and
// "@850:N" for the same instant in the obsolete RFC 850 format.
type step struct {
	method, path string   // default GET /r
	req          []string // request header pairs
	code         int      // origin status, default 200
	resp         []string // origin header pairs
	body         string   // origin body, default "body-<step>"
	fail         bool     // origin gives no response (disconnect)
	pause        bool     // advance the clock by pause after the step

	want      string   // expected type; "" checks nothing about it
	wantCode  int      // expected status to the client
	wantBody  string   // expected body
	wantHdr   []string // header pairs the client must get (">N": numeric greater)
	wantNo    []string // headers the client must not get
	wantReq   []string // header pairs the origin must have received
	wantReqNo []string // headers the origin must not have received
	wantErr   bool     // Serve must return an error
}

type conformanceCase struct {
	id    string
	kind  string // required, optimal, check
	set   Settings
	steps []step
	dev   string // set when the assertion deliberately departs from the suite
	skip  string // set when the case is not run here
}

// imfAt formats the clock base plus sec seconds as an IMF-fixdate; it is
// for values fixed at case-building time (all caches start at newClock's
// instant).
func imfAt(sec int) string {
	return newClock().Now().Add(time.Duration(sec) * time.Second).Format(http.TimeFormat)
}

// resolve replaces a "@N" / "@850:N" value by a date relative to now.
func resolve(v string, now time.Time) string {
	if !strings.HasPrefix(v, "@") {
		return v
	}
	layout, num := http.TimeFormat, v[1:]
	if rest, ok := strings.CutPrefix(num, "850:"); ok {
		layout, num = "Monday, 02-Jan-06 15:04:05 GMT", rest
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		panic("bad date placeholder " + v)
	}
	return now.Add(time.Duration(n) * time.Second).UTC().Format(layout)
}

// suiteOrigin answers as the suite's server does for the current step.
type suiteOrigin struct {
	clk   *clock
	st    *step
	idx   int
	calls int
	how   string // "", "etag" or "lm": how the last call was answered 304
	req   http.Header
}

func (o *suiteOrigin) fetch(w http.ResponseWriter, r *http.Request) error {
	o.calls++
	o.how = ""
	o.req = r.Header.Clone()
	if o.st.fail {
		return errors.New("origin closed the connection")
	}
	now := o.clk.Now()
	h := w.Header()
	for i := 0; i+1 < len(o.st.resp); i += 2 {
		h.Add(o.st.resp[i], resolve(o.st.resp[i+1], now))
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if inm := r.Header.Get("If-None-Match"); inm != "" && h.Get("ETag") != "" {
			if etagListMatches([]string{inm}, h.Get("ETag")) {
				o.how = "etag"
			}
		} else if ims, lm := r.Header.Get("If-Modified-Since"), h.Get("Last-Modified"); ims != "" && lm != "" {
			ti, err1 := http.ParseTime(ims)
			tl, err2 := http.ParseTime(lm)
			if err1 == nil && err2 == nil && !tl.After(ti) {
				o.how = "lm"
			}
		}
		if o.how != "" {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	code := o.st.code
	if code == 0 {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	body := o.st.body
	if body == "" {
		body = fmt.Sprintf("body-%d", o.idx)
	}
	if code != http.StatusNoContent && code != http.StatusNotModified {
		_, _ = w.Write([]byte(body))
	}
	return nil
}

func runConformance(t *testing.T, cases []conformanceCase) {
	t.Helper()
	seen := make(map[string]bool)
	for _, tc := range cases {
		if seen[tc.id] {
			t.Fatalf("duplicate case %s", tc.id)
		}
		seen[tc.id] = true
		t.Run(tc.id, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip(tc.skip)
			}
			c, clk := newTestCache(t, tc.set)
			o := &suiteOrigin{clk: clk}
			for i := range tc.steps {
				runStep(t, c, clk, o, i, &tc.steps[i])
			}
		})
	}
}

func runStep(t *testing.T, c *Cache, clk *clock, o *suiteOrigin, i int, s *step) {
	t.Helper()
	o.st, o.idx = s, i
	method, path := s.method, s.path
	if method == "" {
		method = http.MethodGet
	}
	if path == "" {
		path = "/r"
	}
	now := clk.Now()
	r := httptest.NewRequest(method, "http://example.com"+path, nil)
	for j := 0; j+1 < len(s.req); j += 2 {
		r.Header.Add(s.req[j], resolve(s.req[j+1], now))
	}
	w := httptest.NewRecorder()
	before := o.calls
	_, err := c.Serve(w, r, o.fetch)
	if (err != nil) != s.wantErr {
		t.Fatalf("step %d: Serve error %v, want error %v", i, err, s.wantErr)
	}
	got := notCached
	switch {
	case o.calls == before:
		got = cached
	case o.how == "etag":
		got = etagValidated
	case o.how == "lm":
		got = lmValidated
	}
	ok := s.want == "" || got == s.want ||
		(s.want == notCached && got != cached) ||
		(s.want == validated && (got == etagValidated || got == lmValidated))
	if !ok {
		t.Fatalf("step %d: %s, want %s (status %d, Cache-Status %q)", i, got, s.want, w.Code, cacheStatusOf(w))
	}
	if s.wantCode != 0 && w.Code != s.wantCode {
		t.Errorf("step %d: status %d, want %d", i, w.Code, s.wantCode)
	}
	if s.wantBody != "" && w.Body.String() != s.wantBody {
		t.Errorf("step %d: body %q, want %q", i, w.Body.String(), s.wantBody)
	}
	checkHeaders(t, fmt.Sprintf("step %d: response", i), w.Result().Header, s.wantHdr, s.wantNo, now)
	if s.wantReq != nil || s.wantReqNo != nil {
		if o.calls == before {
			t.Fatalf("step %d: origin not reached, cannot check its request", i)
		}
		checkHeaders(t, fmt.Sprintf("step %d: origin request", i), o.req, s.wantReq, s.wantReqNo, now)
	}
	if s.pause {
		clk.Advance(pause)
	}
}

func checkHeaders(t *testing.T, what string, h http.Header, want, missing []string, now time.Time) {
	t.Helper()
	for j := 0; j+1 < len(want); j += 2 {
		name, exp := want[j], want[j+1]
		got, present := h.Get(name), len(h.Values(name)) > 0
		if lim, ok := strings.CutPrefix(exp, ">"); ok {
			n, err1 := strconv.Atoi(got)
			l, _ := strconv.Atoi(lim)
			if err1 != nil || n <= l {
				t.Errorf("%s %s = %q, want > %s", what, name, got, lim)
			}
			continue
		}
		if exp = resolve(exp, now); !present || got != exp {
			t.Errorf("%s %s = %q (present %v), want %q", what, name, got, present, exp)
		}
	}
	for _, name := range missing {
		if v := h.Values(name); len(v) > 0 {
			t.Errorf("%s has %s: %q, want none", what, name, v)
		}
	}
}

// reuse builds the suite's commonest shape: a response with headers hdr,
// an optional pause, then a plain request expected to be want.
func reuse(id, kind, want string, paused bool, hdr ...string) conformanceCase {
	return conformanceCase{id: id, kind: kind, steps: []step{
		{resp: hdr, pause: paused},
		{want: want},
	}}
}

// devNote marks a case as asserting this cache's behaviour where the
// suite expects otherwise.
func (tc conformanceCase) devNote(why string) conformanceCase {
	tc.dev = why
	return tc
}

func (tc conformanceCase) with(s Settings) conformanceCase {
	tc.set = s
	return tc
}

// Templates of the suite (tests/lib/templates.mjs).
var (
	freshTmpl = []string{"Expires", "@100000", "Cache-Control", "max-age=100000", "Last-Modified", "@0", "Date", "@0"}
	staleTmpl = []string{"Expires", "@-5000", "Last-Modified", "@-100000", "Date", "@0"}
)

func plus(a []string, b ...string) []string {
	return append(append([]string(nil), a...), b...)
}
