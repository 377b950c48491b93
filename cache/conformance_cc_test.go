package cache

import (
	"testing"
	"time"
)

// Suite files vary.mjs and vary-parse.mjs.
func TestConformanceVary(t *testing.T) {
	vresp := func(vary ...string) []string {
		h := []string{"Expires", "@5000", "Last-Modified", "@-3000", "Date", "@0"}
		for _, v := range vary {
			h = append(h, "Vary", v)
		}
		return h
	}
	pair := func(id, kind, want string, vary string, first, second []string) conformanceCase {
		return conformanceCase{id: id, kind: kind, steps: []step{
			{req: first, resp: vresp(vary)},
			{req: second, want: want},
		}}
	}
	foo1 := []string{"Foo", "1"}
	star := func(id string, vary ...string) conformanceCase {
		return conformanceCase{id: id, kind: "required", steps: []step{
			{req: []string{"Foo", "1", "Baz", "789"}, resp: vresp(vary...)},
			{req: []string{"Foo", "1", "Baz", "789"}, want: notCached},
		}}
	}
	runConformance(t, []conformanceCase{
		pair("vary-match", "optimal", cached, "Foo", foo1, foo1),
		pair("vary-no-match", "required", notCached, "Foo", foo1, []string{"Foo", "2"}),
		pair("vary-omit", "required", notCached, "Foo", foo1, nil),
		{id: "vary-invalidate", kind: "optimal", steps: []step{
			{req: foo1, resp: vresp("Foo"), body: "foo_1"},
			{req: []string{"Foo", "2"}, resp: vresp("Foo"), body: "foo_2", want: notCached},
			{req: foo1, want: cached, wantBody: "foo_1"},
		}},
		pair("vary-cache-key", "optimal", cached, "Foo", []string{"Foo", "1", "Other", "2"}, []string{"Foo", "1", "Other", "3"}),
		pair("vary-2-match", "optimal", cached, "Foo, Bar", []string{"Foo", "1", "Bar", "abc"}, []string{"Foo", "1", "Bar", "abc"}),
		pair("vary-2-no-match", "required", notCached, "Foo, Bar", []string{"Foo", "1", "Bar", "abc"}, []string{"Foo", "2", "Bar", "abc"}),
		pair("vary-2-match-omit", "required", notCached, "Foo, Bar", foo1, nil),
		pair("vary-3-match", "optimal", cached, "Foo, Bar, Baz",
			[]string{"Foo", "1", "Bar", "abc", "Baz", "789"}, []string{"Foo", "1", "Bar", "abc", "Baz", "789"}),
		pair("vary-3-no-match", "required", notCached, "Foo, Bar, Baz",
			[]string{"Foo", "1", "Bar", "abc", "Baz", "789"}, []string{"Foo", "2", "Bar", "abc", "Baz", "789"}),
		pair("vary-3-order", "required", notCached, "Foo, Bar, Baz",
			[]string{"Foo", "1", "Bar", "abc4", "Baz", "789"}, []string{"Foo", "1", "Bar", "abc", "Baz", "789"}),
		pair("vary-3-omit", "optimal", cached, "Foo, Bar, Baz", []string{"Foo", "1", "Baz", "789"}, []string{"Foo", "1", "Baz", "789"}),
		star("vary-star", "*"),
		pair("vary-normalise-space", "optimal", cached, "Foo", []string{"Foo", "1,2"}, []string{"Foo", " 1, 2 "}),
		pair("vary-normalise-combine", "optimal", cached, "Foo", []string{"Foo", "1, 2"}, []string{"Foo", "1", "Foo", "2"}),
		pair("vary-normalise-lang-order", "optimal", notCached, "Accept-Language",
			[]string{"Accept-Language", "en, de"}, []string{"Accept-Language", "de, en"}).
			devNote("suite expects cached; selecting headers are normalised for whitespace, case and line folding only, not list order"),
		star("vary-syntax-star", "*"),
		star("vary-syntax-star-star", "*, *"),
		star("vary-syntax-star-star-lines", "*", "*"),
		star("vary-syntax-empty-star", ", *"),
		star("vary-syntax-empty-star-lines", "", "*"),
		star("vary-syntax-star-foo", "*, Foo"),
		star("vary-syntax-foo-star", "Foo, *"),
	})
}

// Suite files conditional-etag.mjs and conditional-lm.mjs.
func TestConformanceConditional(t *testing.T) {
	inm := func(id, kind, etag, ifNoneMatch string, want string, code int) conformanceCase {
		return conformanceCase{id: id, kind: kind, steps: []step{
			{resp: plus(freshTmpl, "ETag", etag)},
			{req: []string{"If-None-Match", ifNoneMatch}, want: want, wantCode: code},
		}}
	}
	becomeStale := func(id, kind, etag, wantINM string) conformanceCase {
		h := []string{"Cache-Control", "max-age=2", "Template-A", "1", "ETag", etag}
		return conformanceCase{id: id, kind: kind, steps: []step{
			{resp: h, pause: true},
			{resp: h, want: etagValidated, wantReq: []string{"If-None-Match", wantINM}, wantHdr: []string{"Template-A", "1"}},
		}}
	}
	// Last-Modified is fixed at the clock base - 3000s, so that the origin
	// (which compares it with If-Modified-Since) sees the same instant at
	// every step.
	lmFixed := imfAt(-3000)
	lm := func(id string, cc string, ims string, want string) conformanceCase {
		h := []string{"Cache-Control", cc, "Date", "@0", "Last-Modified", lmFixed}
		return conformanceCase{id: id, kind: "optimal", steps: []step{
			{resp: h, pause: true},
			{resp: h, req: []string{"If-Modified-Since", ims}, want: want, wantCode: 304},
		}}
	}
	rfc850 := newClock().Now().Add(-3000 * time.Second).Format("Monday, 02-Jan-06 15:04:05 GMT")
	const unquoted = "suite expects a 304; an unquoted entity-tag is not valid syntax and matches nothing, so the full stored 200 is served"
	runConformance(t, []conformanceCase{
		inm("conditional-etag-strong-respond", "optimal", `"abcdef"`, `"abcdef"`, cached, 304),
		{id: "conditional-304-etag", kind: "required", steps: []step{
			{resp: plus(freshTmpl, "ETag", `"abcdef"`)},
			{req: []string{"If-None-Match", `"abcdef"`}, want: cached, wantCode: 304, wantHdr: []string{"ETag", `"abcdef"`}},
		}},
		{id: "conditional-etag-precedence", kind: "required", steps: []step{
			{resp: []string{"Expires", "@100000", "Cache-Control", "max-age=100000", "Date", "@0", "Last-Modified", "@-5000", "ETag", `"abcdef"`}},
			{req: []string{"If-None-Match", `"abcdef"`, "If-Modified-Since", "@-6000"}, want: cached, wantCode: 304},
		}},
		inm("conditional-etag-strong-respond-obs-text", "check", "\"abcdef\u00fc\"", "\"abcdef\u00fc\"", cached, 304),
		inm("conditional-etag-quoted-respond-unquoted", "check", `"abcdef"`, `abcdef`, cached, 200).devNote(unquoted),
		inm("conditional-etag-unquoted-respond-unquoted", "check", `abcdef`, `abcdef`, cached, 304),
		inm("conditional-etag-unquoted-respond-quoted", "check", `abcdef`, `"abcdef"`, cached, 200).devNote(unquoted),
		inm("conditional-etag-weak-respond", "optimal", `W/"abcdef"`, `W/"abcdef"`, cached, 304),
		inm("conditional-etag-weak-respond-lowercase", "check", `w/"abcdef"`, `w/"abcdef"`, cached, 304),
		inm("conditional-etag-weak-respond-backslash", "check", `W\"abcdef"`, `W\"abcdef"`, cached, 304),
		inm("conditional-etag-weak-respond-omit-slash", "check", `W"abcdef"`, `W"abcdef"`, cached, 304),
		inm("conditional-etag-strong-respond-multiple-first", "optimal", `"abcdef"`, `"abcdef", "1234", "5678"`, cached, 304),
		inm("conditional-etag-strong-respond-multiple-second", "optimal", `"abcdef"`, `"1234", "abcdef", "5678"`, cached, 304),
		inm("conditional-etag-strong-respond-multiple-last", "optimal", `"abcdef"`, `"1234", "5678", "abcdef"`, cached, 304),
		{id: "conditional-etag-vary-headers", kind: "required", steps: []step{
			{req: []string{"Abc", "123"}, resp: []string{"Expires", "@1", "ETag", `"abcdef"`, "Date", "@0", "Vary", "Abc"}, pause: true},
			{req: []string{"Abc", "123"}, resp: []string{"Expires", "@1", "ETag", `"abcdef"`, "Date", "@0", "Vary", "Abc"},
				want: etagValidated, wantReq: []string{"Abc", "123"}},
		}},
		{id: "conditional-etag-vary-headers-mismatch", kind: "check", steps: []step{
			{req: []string{"Abc", "123"}, resp: []string{"Expires", "@10000", "ETag", `"abcdef"`, "Date", "@0", "Vary", "Abc"}, pause: true},
			{req: []string{"Abc", "456"}, want: notCached, wantReqNo: []string{"If-None-Match"}},
		}},
		becomeStale("conditional-etag-strong-generate", "optimal", `"abcdef"`, `"abcdef"`),
		becomeStale("conditional-etag-weak-generate-weak", "optimal", `W/"abcdef"`, `W/"abcdef"`),
		becomeStale("conditional-etag-strong-generate-unquoted", "check", `abcdef`, `abcdef`).
			devNote(`suite expects the cache to send If-None-Match: "abcdef"; the stored ETag is sent as received`),
		{id: "conditional-etag-forward", kind: "check", steps: []step{
			{req: []string{"If-None-Match", `"abcdef"`}, wantReq: []string{"If-None-Match", `"abcdef"`}},
		}},
		conformanceCase{id: "conditional-etag-forward-unquoted", kind: "check", steps: []step{
			{req: []string{"If-None-Match", `abcdef`}, wantReq: []string{"If-None-Match", `abcdef`}},
		}}.devNote(`suite expects quotes added ("abcdef"); the client's field is forwarded unchanged`),
		lm("conditional-lm-fresh", "max-age=100000", lmFixed, cached),
		lm("conditional-lm-fresh-earlier", "max-age=100000", imfAt(-2000), cached),
		lm("conditional-lm-stale", "max-age=2", lmFixed, lmValidated),
		lm("conditional-lm-fresh-rfc850", "max-age=10000", rfc850, cached),
		conformanceCase{id: "conditional-lm-fresh-no-lm", kind: "optimal", steps: []step{
			{resp: []string{"Cache-Control", "max-age=10000", "Date", "@0"}, pause: true},
			{req: []string{"If-Modified-Since", "@-3003"}, want: cached, wantCode: 200},
		}}.devNote("suite expects 304; If-Modified-Since is evaluated only against a stored Last-Modified (see report)"),
	})
}

// Suite file cc-request.mjs (all "check") and pragma.mjs.
func TestConformanceRequestDirectives(t *testing.T) {
	ask := func(id, want string, resp []string, paused bool, reqCC string) conformanceCase {
		return conformanceCase{id: id, kind: "check", steps: []step{
			{resp: resp, pause: paused},
			{resp: resp, req: []string{"Cache-Control", reqCC}, want: want},
		}}
	}
	hour := []string{"Cache-Control", "max-age=3600"}
	runConformance(t, []conformanceCase{
		ask("ccreq-ma0", notCached, freshTmpl, true, "max-age=0"),
		ask("ccreq-ma1", notCached, freshTmpl, true, "max-age=1"),
		ask("ccreq-magreaterage", notCached, []string{"Cache-Control", "max-age=3600", "Age", "1800"}, false, "max-age=600"),
		ask("ccreq-max-stale", cached, []string{"Cache-Control", "max-age=1"}, true, "max-stale=1000"),
		ask("ccreq-max-stale-age", cached, []string{"Cache-Control", "max-age=1500", "Age", "2000"}, false, "max-stale=1000"),
		ask("ccreq-min-fresh", notCached, []string{"Cache-Control", "max-age=1500"}, false, "min-fresh=2000"),
		ask("ccreq-min-fresh-age", notCached, []string{"Cache-Control", "max-age=1500", "Age", "1000"}, false, "min-fresh=1000"),
		ask("ccreq-no-cache", notCached, hour, false, "no-cache"),
		ask("ccreq-no-cache-lm", lmValidated, []string{"Cache-Control", "max-age=3600", "Last-Modified", "@-10000", "Date", "@0"}, false, "no-cache"),
		ask("ccreq-no-cache-etag", etagValidated, []string{"Cache-Control", "max-age=3600", "ETag", `"abc"`}, false, "no-cache"),
		ask("ccreq-no-store", cached, hour, false, "no-store").
			devNote("suite expects not_cached; request no-store only forbids storing this exchange (RFC 9111 §5.2.1.5), so the stored response is used"),
		{id: "ccreq-oic", kind: "check", steps: []step{
			{req: []string{"Cache-Control", "only-if-cached"}, want: cached, wantCode: 504},
		}},
		conformanceCase{id: "pragma-request-no-cache", kind: "check", steps: []step{
			{resp: hour},
			{req: []string{"Pragma", "no-cache"}, want: notCached},
		}}.devNote("suite expects cached; Pragma: no-cache without Cache-Control is honoured as no-cache (RFC 9111 §5.4 / RFC 7234)"),
		{id: "pragma-request-extension", kind: "check", steps: []step{
			{resp: hour},
			{req: []string{"Pragma", "unrecognised-extension"}, want: cached},
		}},
		reuse("pragma-response-no-cache", "check", cached, false, "Cache-Control", "max-age=3600", "Pragma", "no-cache"),
		reuse("pragma-response-extension", "check", cached, false, "Cache-Control", "max-age=3600", "Pragma", "unrecognised-extension"),
	})
}

// Suite files cc-response.mjs, authorization.mjs and stale.mjs.
func TestConformanceResponseDirectives(t *testing.T) {
	const req, opt, chk = "required", "optimal", "check"
	noCacheFresh := []string{"Cache-Control", "max-age=10000, no-cache", "Expires", "@10000", "Date", "@0"}
	oldNew := func(id, second string) conformanceCase {
		return conformanceCase{id: id, kind: req, steps: []step{
			{resp: []string{"Cache-Control", "max-age=10000", "Expires", "@10000", "Date", "@0", "A", "1"}, pause: true},
			{resp: []string{"Cache-Control", second, "Date", "@0", "A", "2"}, pause: true},
			{want: cached, wantHdr: []string{"A", "1"}},
		}}
	}
	auth := func(id, kind, want string, resp ...string) conformanceCase {
		return conformanceCase{id: id, kind: kind, steps: []step{
			{req: []string{"Authorization", "FOO"}, resp: resp, pause: true, wantReq: []string{"Authorization", "FOO"}},
			{want: want},
		}}
	}
	sie := Settings{StaleIfError: time.Minute}
	staleClose := func(id, kind, cc string) conformanceCase {
		return conformanceCase{id: id, kind: kind, set: sie, steps: []step{
			{resp: []string{"Cache-Control", cc}, pause: true},
			{fail: true, want: notCached, wantErr: true},
		}}
	}
	becomeStale := []string{"Cache-Control", "max-age=2", "Template-A", "1"}
	runConformance(t, []conformanceCase{
		reuse("cc-resp-private-shared", req, notCached, false, "Cache-Control", "private, max-age=3600"),
		reuse("cc-resp-no-store", req, notCached, false, "Cache-Control", "no-store"),
		reuse("cc-resp-no-store-case-insensitive", req, notCached, false, "Cache-Control", "No-StOrE"),
		reuse("cc-resp-no-store-fresh", req, notCached, false, "Cache-Control", "max-age=10000, no-store", "Expires", "@10000", "Date", "@0"),
		oldNew("cc-resp-no-store-old-new", "no-store"),
		oldNew("cc-resp-no-store-old-max-age", "no-store, max-age=0"),
		reuse("cc-resp-no-cache", req, notCached, false, noCacheFresh...),
		reuse("cc-resp-no-cache-case-insensitive", req, notCached, false,
			"Cache-Control", "max-age=10000, No-CaChE", "Expires", "@10000", "Date", "@0"),
		{id: "cc-resp-no-cache-revalidate", kind: opt, steps: []step{
			{resp: []string{"Cache-Control", "no-cache", "ETag", `"abcd"`}},
			{resp: []string{"Cache-Control", "no-cache", "ETag", `"abcd"`}, want: etagValidated},
		}},
		{id: "cc-resp-no-cache-revalidate-fresh", kind: opt, steps: []step{
			{resp: plus(noCacheFresh, "ETag", `"abcd"`)},
			{resp: plus(noCacheFresh, "ETag", `"abcd"`), want: etagValidated},
		}},
		reuse("cc-resp-must-revalidate-fresh", opt, cached, false, "Cache-Control", "max-age=10000, must-revalidate", "ETag", `"abcd"`),
		{id: "cc-resp-must-revalidate-stale", kind: req, steps: []step{
			{resp: []string{"Cache-Control", "max-age=2, must-revalidate", "ETag", `"abcd"`}},
			{want: cached, pause: true},
			{resp: []string{"Cache-Control", "max-age=2, must-revalidate", "ETag", `"abcd"`}, want: etagValidated},
		}},
		{id: "headers-omit-headers-listed-in-Cache-Control-no-cache-single", kind: chk,
			skip: `qualified no-cache="field" is treated as unqualified no-cache (doc.go); without a validator the response is not stored`},
		{id: "headers-omit-headers-listed-in-Cache-Control-no-cache", kind: chk,
			skip: `qualified no-cache="field" is treated as unqualified no-cache (doc.go); without a validator the response is not stored`},
		{id: "cc-resp-private-private", skip: "browser_only: private cache"},
		{id: "cc-resp-immutable-fresh", skip: "browser_only: immutable with a reload"},
		{id: "cc-resp-immutable-stale", skip: "browser_only: immutable with a reload"},

		auth("other-authorization", req, notCached, "Expires", "@2592000", "Date", "@0"),
		auth("other-authorization-public", opt, cached, "Cache-Control", "max-age=3600, public", "Date", "@0"),
		auth("other-authorization-must-revalidate", opt, cached, "Cache-Control", "max-age=3600, must-revalidate", "Date", "@0"),
		auth("other-authorization-smaxage", opt, cached, "Cache-Control", "s-maxage=3600", "Date", "@0"),

		// Serving stale needs StaleIfError; fail is the suite's disconnect.
		{id: "stale-close", kind: chk, set: sie, steps: []step{
			{resp: becomeStale, pause: true},
			{fail: true, want: notCached, wantCode: 200, wantHdr: []string{"Template-A", "1"}},
		}},
		{id: "stale-503", kind: chk, set: sie, steps: []step{
			{resp: becomeStale, pause: true},
			{code: 503, want: notCached, wantCode: 200, wantHdr: []string{"Template-A", "1"}},
		}},
		staleClose("stale-close-must-revalidate", req, "max-age=2, must-revalidate"),
		staleClose("stale-close-proxy-revalidate", req, "max-age=2, proxy-revalidate"),
		staleClose("stale-close-no-cache", req, "max-age=2, no-cache"),
		staleClose("stale-close-s-maxage=2", req, "max-age=2, s-maxage=2"),
		{id: "stale-sie-close", kind: chk, skip: "stale-if-error response directive not implemented (doc.go)"},
		{id: "stale-sie-503", kind: chk, skip: "stale-if-error response directive not implemented (doc.go)"},
		{id: "stale-warning-stored", kind: chk, skip: "Warning is obsoleted by RFC 9111; never generated"},
		{id: "stale-warning-become", kind: chk, skip: "Warning is obsoleted by RFC 9111; never generated"},
	})
}
