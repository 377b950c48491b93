package cache

import (
	"fmt"
	"testing"
	"time"
)

// Suite files cc-freshness.mjs and cc-parse.mjs.
func TestConformanceCacheControlFreshness(t *testing.T) {
	const req, opt, chk = "required", "optimal", "check"
	cc := func(v string) []string { return []string{"Cache-Control", v} }
	runConformance(t, []conformanceCase{
		reuse("freshness-none", opt, notCached, true),
		reuse("freshness-max-age", opt, cached, true, cc("max-age=3600")...),
		reuse("freshness-max-age-quoted", chk, cached, true, cc(`max-age="3600"`)...),
		reuse("freshness-max-age-single-quoted", req, notCached, true, cc(`max-age='3600'`)...),
		reuse("freshness-max-age-ignore-quoted", req, notCached, true, cc(`extension="max-age=3600", max-age=1`)...),
		reuse("freshness-max-age-ignore-quoted-rev", req, notCached, true, cc(`max-age=1, extension="max-age=3600"`)...),
		reuse("freshness-max-age-ignore-quoted-all", req, notCached, true, cc(`extension="max-age=100", max-age="1"`)...),
		reuse("freshness-max-age-ignore-quoted-all-rev", req, notCached, true, cc(`max-age="1", extension="max-age=100"`)...),
		reuse("freshness-max-age-space-before-equals", chk, cached, true, cc("max-age =3600")...).
			devNote("suite expects not_cached; the parser trims whitespace around '=' and reads max-age=3600"),
		reuse("freshness-max-age-space-after-equals", chk, cached, true, cc("max-age= 3600")...).
			devNote("suite expects not_cached; the parser trims whitespace around '=' and reads max-age=3600"),
		reuse("freshness-max-age-0", req, notCached, true, cc("max-age=0")...),
		reuse("freshness-max-age-a100", req, notCached, true, cc("max-age=a100")...),
		reuse("freshness-max-age-100a", req, notCached, true, cc("max-age=100a")...),
		reuse("freshness-max-age-negative", req, notCached, true, cc("max-age=-100")...),
		reuse("freshness-max-age-leading-zero", opt, cached, true, cc("max-age=003600")...),
		reuse("freshness-max-age-decimal-zero", chk, notCached, true, cc("max-age=3600.0")...).
			devNote("suite expects cached; an invalid delta-seconds counts as 0 (RFC 9111 §4.2.1 allows treating it as stale)"),
		reuse("freshness-max-age-decimal-five", chk, notCached, true, cc("max-age=3600.5")...).
			devNote("suite expects cached; an invalid delta-seconds counts as 0 (RFC 9111 §4.2.1 allows treating it as stale)"),
		reuse("freshness-max-age-max", opt, cached, true, cc("max-age=2147483648")...),
		reuse("freshness-max-age-max-plus", opt, cached, true, cc("max-age=99999999999")...),
		reuse("freshness-max-age-age", req, notCached, true, "Date", "@0", "Cache-Control", "max-age=10", "Age", "15"),
		reuse("freshness-max-age-expires", opt, cached, true, "Cache-Control", "max-age=3600", "Expires", "@-10000", "Date", "@0"),
		reuse("freshness-max-age-expires-invalid", opt, cached, true, "Cache-Control", "max-age=3600", "Expires", "0", "Date", "@0"),
		reuse("freshness-max-age-0-expires", req, notCached, true, "Expires", "@10000", "Cache-Control", "max-age=0", "Date", "@0"),
		reuse("freshness-max-age-extension", opt, cached, true, cc("foobar, max-age=3600")...),
		reuse("freshness-max-age-case-insenstive", opt, cached, true, cc("MaX-aGe=3600")...),
		reuse("freshness-s-maxage-shared", req, cached, true, cc("s-maxage=3600")...),
		reuse("freshness-max-age-s-maxage-shared-longer", req, notCached, true, cc("max-age=3600, s-maxage=1")...),
		reuse("freshness-max-age-s-maxage-shared-longer-reversed", req, notCached, true, cc("s-maxage=1, max-age=3600")...),
		reuse("freshness-max-age-s-maxage-shared-longer-multiple", req, notCached, true,
			"Cache-Control", "max-age=3600", "Cache-Control", "s-maxage=1"),
		reuse("freshness-max-age-s-maxage-shared-shorter", opt, cached, true, cc("max-age=1, s-maxage=3600")...),
		// Duplicate directives: the first occurrence wins (RFC 9111 §4.2.1).
		reuse("freshness-max-age-two-fresh-stale-sameline", chk, cached, true, cc("max-age=1800, max-age=1")...),
		reuse("freshness-max-age-two-fresh-stale-sepline", chk, cached, true,
			"Cache-Control", "max-age=1800", "Cache-Control", "max-age=1"),
		reuse("freshness-max-age-two-stale-fresh-sameline", chk, notCached, true, cc("max-age=1, max-age=1800")...).
			devNote("suite expects cached; the first max-age (1) wins, as RFC 9111 §4.2.1 allows"),
		reuse("freshness-max-age-two-stale-fresh-sepline", chk, notCached, true,
			"Cache-Control", "max-age=1", "Cache-Control", "max-age=1800").
			devNote("suite expects cached; the first max-age (1) wins, as RFC 9111 §4.2.1 allows"),
		{id: "freshness-max-age-s-maxage-private", skip: "browser_only: private caches ignore s-maxage"},
		{id: "freshness-max-age-s-maxage-private-multiple", skip: "browser_only: private caches ignore s-maxage"},
	})
}

// Suite files expires-freshness.mjs and expires-parse.mjs.
func TestConformanceExpires(t *testing.T) {
	const req, opt = "required", "optimal"
	exp := func(id, kind, want string, paused bool, expires string) conformanceCase {
		return reuse(id, kind, want, paused, "Expires", expires, "Date", "@0")
	}
	runConformance(t, []conformanceCase{
		reuse("freshness-expires-none", opt, notCached, true),
		exp("freshness-expires-future", opt, cached, true, fmt.Sprintf("@%d", 30*24*3600)),
		exp("freshness-expires-past", req, notCached, true, fmt.Sprintf("@%d", -30*24*3600)),
		exp("freshness-expires-present", req, notCached, false, "@0"),
		reuse("freshness-expires-old-date", req, notCached, true, "Expires", "@300", "Date", "@400"),
		exp("freshness-expires-wrong-case-weekday", opt, cached, true, "THU, 18 Aug 2050 02:01:18 GMT"),
		exp("freshness-expires-wrong-case-month", opt, cached, true, "Thu, 18 AUG 2050 02:01:18 GMT"),
		exp("freshness-expires-wrong-case-tz", opt, notCached, true, "Thu, 18 Aug 2050 02:01:18 gMT").
			devNote("suite expects cached; the GMT zone is matched case-sensitively, so this Expires is invalid: already expired"),
		exp("freshness-expires-invalid", req, notCached, true, "0"),
		exp("freshness-expires-invalid-utc", req, notCached, true, "Thu, 18 Aug 2050 02:01:18 UTC"),
		exp("freshness-expires-invalid-2-digit-year", req, notCached, true, "Thu, 18 Aug 50 02:01:18 GMT"),
		exp("freshness-expires-invalid-no-comma", req, notCached, true, "Thu 18 Aug 2050 02:01:18 GMT"),
		exp("freshness-expires-invalid-multiple-spaces", req, notCached, false, "Thu, 18  Aug  2050 02:01:18 GMT"),
		exp("freshness-expires-invalid-date-dashes", req, notCached, false, "Thu, 18-Aug-2050 02:01:18 GMT"),
		exp("freshness-expires-invalid-time-periods", req, notCached, false, "Thu, 18 Aug 2050 02.01.18 GMT"),
		exp("freshness-expires-invalid-1-digit-hour", req, notCached, false, "Thu, 18 Aug 2050 2:01:18 GMT"),
		reuse("freshness-expires-invalid-date", opt, cached, false, "Date", "foo", "Expires", "@10"),
		reuse("freshness-expires-age-slow-date", req, notCached, false, "Date", "@-10", "Expires", "@10", "Age", "25"),
		reuse("freshness-expires-age-fast-date", req, notCached, false, "Date", "@10", "Expires", "@20", "Age", "15"),
	})
}

// Suite file age-parse.mjs (all "check"): a response with max-age=3600
// and an Age of 7200 in some malformed shape.
func TestConformanceAgeParse(t *testing.T) {
	age := func(id, want string, ages ...string) conformanceCase {
		h := []string{"Date", "@0", "Cache-Control", "max-age=3600"}
		for _, a := range ages {
			h = append(h, "Age", a)
		}
		return reuse(id, "check", want, true, h...)
	}
	const firstMember = "suite (check) expects cached; RFC 9111 §5.1: a cache SHOULD use the first member of a " +
		"list-valued Age (7200 here, so stale), whether the list is one line or several"
	runConformance(t, []conformanceCase{
		age("age-parse-nonnumeric", cached, "abc"),
		age("age-parse-negative", cached, "-7200"),
		age("age-parse-float", cached, "7200.0"),
		age("age-parse-suffix", notCached, "7200,0").devNote(firstMember),
		age("age-parse-suffix-twoline", notCached, "7200", "0").devNote(firstMember),
		age("age-parse-prefix", cached, "0,7200"),
		age("age-parse-prefix-twoline", cached, "0", "7200"),
		age("age-parse-dup-0", cached, "0, 0"),
		age("age-parse-dup-0-twoline", cached, "0", "0"),
		age("age-parse-dup-old", notCached, "7200, 7200").devNote(firstMember),
		age("age-parse-dup-old-twoline", notCached, "7200", "7200").devNote(firstMember),
	})
}

// Suite file status.mjs: every status with explicit freshness is stored
// (fresh: reused; stale: not).
func TestConformanceStatus(t *testing.T) {
	var cases []conformanceCase
	for _, code := range []int{200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 499, 500, 502, 503, 504, 599} {
		cases = append(cases,
			conformanceCase{id: fmt.Sprintf("status-%d-fresh", code), kind: "optimal", steps: []step{
				{code: code, resp: freshTmpl, body: "stored"},
				{code: 200, want: cached, wantCode: code},
			}},
			conformanceCase{id: fmt.Sprintf("status-%d-stale", code), kind: "required", steps: []step{
				{code: code, resp: staleTmpl},
				{code: code, want: notCached, wantCode: code},
			}})
	}
	runConformance(t, cases)
}

// Suite file heuristic-freshness.mjs, with the heuristic turned on (TTL;
// it is off by default). The cache's heuristic is the flat TTL rather
// than a fraction of the time since Last-Modified.
func TestConformanceHeuristic(t *testing.T) {
	on := Settings{TTL: 10 * time.Minute}
	var cases []conformanceCase
	for _, code := range []int{200, 201, 202, 203, 204, 403, 404, 405, 410, 414, 501, 502, 503, 504, 599} {
		want, kind := notCached, "required"
		switch code {
		case 200, 203, 204, 404, 405, 410, 414, 501:
			want, kind = cached, "optimal"
		}
		cases = append(cases, conformanceCase{id: fmt.Sprintf("heuristic-%d-%s", code, want), kind: kind, set: on,
			steps: []step{
				{code: code, resp: []string{"Last-Modified", "@-86400", "Date", "@0"}},
				{code: code, want: want, wantCode: code},
			}})
	}
	cases = append(cases, conformanceCase{id: "heuristic-599-cached", kind: "optimal", set: on, steps: []step{
		{code: 599, resp: []string{"Last-Modified", "@-86400", "Date", "@0", "Cache-Control", "public"}},
		{want: cached, wantCode: 599},
	}})
	for _, d := range []int{5, 10, 30, 60, 300, 600, 1200, 1800, 3600, 3600 * 12, 3600 * 24} {
		cases = append(cases, reuse(fmt.Sprintf("heuristic-delta-%d", d), "check", cached, true,
			"Last-Modified", fmt.Sprintf("@%d", -d), "Date", "@0").with(on))
	}
	cases = append(cases,
		reuse("other-heuristic-content-disposition-attachment", "check", cached, false,
			"Last-Modified", "@-100000", "Date", "@0", "Content-Disposition", "attachment; filename=example.txt").with(on),
		reuse("pragma-response-no-cache-heuristic", "check", cached, false,
			"Last-Modified", "@-10000", "Pragma", "no-cache").with(on),
		// With the default TTL of 0 there is no heuristic freshness.
		reuse("heuristic-200-cached", "optimal", notCached, false, "Last-Modified", "@-86400", "Date", "@0").
			devNote("default Settings: TTL 0 turns heuristic freshness off"),
	)
	// The last case reuses an id with different settings: run it apart.
	runConformance(t, cases[:len(cases)-1])
	t.Run("default-settings", func(t *testing.T) { runConformance(t, cases[len(cases)-1:]) })
}

// Suite file other.mjs: Age and Date on reuse, query strings, cookies.
func TestConformanceOther(t *testing.T) {
	month := fmt.Sprintf("@%d", 30*24*3600)
	runConformance(t, []conformanceCase{
		{id: "other-age-gen", kind: "required", steps: []step{
			{resp: []string{"Expires", month, "Date", "@0"}, pause: true},
			{want: cached, wantHdr: []string{"Age", ">2"}},
		}},
		{id: "other-age-update-expires", kind: "required", steps: []step{
			{resp: []string{"Expires", month, "Date", "@0", "Age", "30"}, pause: true},
			{want: cached, wantHdr: []string{"Age", ">32"}},
		}},
		{id: "other-age-update-max-age", kind: "required", steps: []step{
			{resp: []string{"Cache-Control", "max-age=600", "Date", "@0", "Age", "30"}, pause: true},
			{want: cached, wantHdr: []string{"Age", ">32"}},
		}},
		{id: "other-date-update", kind: "required", steps: []step{
			{resp: []string{"Expires", month, "Date", "@0"}, pause: true},
			{want: cached, wantHdr: []string{"Date", "@-3"}},
		}},
		{id: "query-args-different", kind: "required", steps: []step{
			{path: "/r?test=one", resp: freshTmpl},
			{path: "/r?test=two", want: notCached},
		}},
		{id: "query-args-same", kind: "optimal", steps: []step{
			{path: "/r?test=one", resp: freshTmpl},
			{path: "/r?test=one", want: cached},
		}},
		reuse("other-fresh-content-disposition-attachment", "check", cached, false,
			"Cache-Control", "max-age=3600", "Content-Disposition", "attachment; filename=example.txt"),
		reuse("other-set-cookie", "optimal", notCached, false, "Cache-Control", "max-age=3600", "Set-Cookie", "a=b").
			devNote("default Settings: AllowSetCookie is false, so a response with Set-Cookie is not stored"),
		{id: "other-cookie", kind: "optimal", steps: []step{
			{resp: []string{"Cache-Control", "max-age=3600"}},
			{req: []string{"Cookie", "a=b"}, want: cached},
		}},
		{id: "other-warning", kind: "check", skip: "Warning is obsoleted by RFC 9111; never generated"},
	})
	runConformance(t, []conformanceCase{
		reuse("other-set-cookie", "optimal", cached, false, "Cache-Control", "max-age=3600", "Set-Cookie", "a=b").
			with(Settings{AllowSetCookie: true}),
	})
}
