package caddytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The status page in a real browser: after traffic, with one backend
// down, its numbers are the status API's, its history charts are drawn,
// a never-answering backend shows "—" for its latency and error rate, and
// it fits a 1280 px and a 390 px window although the down backend's error
// is long. Screenshots at 1280×900 and 390×844 are written to
// $STATUSPAGE_SCREENSHOTS (or a temporary directory) for a person to see.

// apiStatus fetches the status document as generic JSON.
func apiStatus(t *testing.T) map[string]any {
	t.Helper()
	return apiStatusAt(t, "localhost:2999")
}

// apiStatusAt fetches the status document from the admin API at addr.
func apiStatusAt(t *testing.T, addr string) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/smartproxy/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// apiRoute returns the named route of doc.
func apiRoute(t *testing.T, doc map[string]any, name string) map[string]any {
	t.Helper()
	for _, r := range doc["routes"].([]any) {
		if r := r.(map[string]any); r["name"] == name {
			return r
		}
	}
	t.Fatalf("route %q not in the status document", name)
	return nil
}

// apiBackend returns the backend of rt with the given URL.
func apiBackend(t *testing.T, rt map[string]any, url string) map[string]any {
	t.Helper()
	for _, b := range rt["backends"].([]any) {
		if b := b.(map[string]any); b["url"] == url {
			return b
		}
	}
	t.Fatalf("backend %q not in route %v", url, rt["name"])
	return nil
}

// browse runs headless Chromium on url in a window of w×h; it returns the
// DOM after the page's scripts ran, and writes a screenshot to shot
// unless shot is "".
func browse(t *testing.T, url string, w, h int, shot string) string {
	t.Helper()
	bin := chromium()
	args := func(extra ...string) []string {
		return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--hide-scrollbars", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000",
			fmt.Sprintf("--window-size=%d,%d", w, h)}, append(extra, url)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args("--dump-dom")...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	if shot != "" {
		if out, err := exec.CommandContext(ctx, bin, args("--screenshot="+shot)...).CombinedOutput(); err != nil {
			t.Fatalf("chromium --screenshot: %v\n%s", err, out)
		}
		if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
			t.Fatalf("no screenshot at %s: %v", shot, err)
		}
	}
	return string(out)
}

// domRow returns the table row of a backend.
func domRow(t *testing.T, dom, url string) string {
	t.Helper()
	re := regexp.MustCompile(`<tr class="backend" data-backend="` + regexp.QuoteMeta(url) + `">(.*?)</tr>`)
	m := re.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no row for %s in the page:\n%s", url, dom)
	}
	return m[1]
}

// domValue returns the text of the element marked data-k=key in html.
func domValue(t *testing.T, html, key string) string {
	t.Helper()
	m := regexp.MustCompile(`data-k="` + key + `"[^>]*>(?:[^<]*<b>)?([^<]*)<`).FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no %s in %s", key, html)
	}
	return m[1]
}

// domChart returns the point count and maximum of a backend's chart.
func domChart(t *testing.T, dom, url, series string) (points int, max float64) {
	t.Helper()
	card := regexp.MustCompile(`<div class="card" data-backend="` + regexp.QuoteMeta(url) + `">(.*?)</div></div></div>`).FindStringSubmatch(dom)
	if card == nil {
		t.Fatalf("no charts for %s in the page", url)
	}
	m := regexp.MustCompile(`data-series="` + series + `">.*?<svg[^>]*data-points="(\d+)" data-max="([^"]+)"[^>]*>(.*?)</svg>`).FindStringSubmatch(card[1])
	if m == nil {
		t.Fatalf("no %s chart for %s: %s", series, url, card[1])
	}
	n, _ := strconv.Atoi(m[1])
	mx, _ := strconv.ParseFloat(m[2], 64)
	if bars := strings.Count(m[3], "<rect"); bars != n {
		t.Errorf("%s chart of %s has %d points and %d bars", series, url, n, bars)
	}
	return n, mx
}

func TestStatusPageBrowser(t *testing.T) {
	if chromium() == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run does this)")
	}
	good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/cached") {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		fmt.Fprint(w, "good")
	})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/health") {
			time.Sleep(15 * time.Millisecond) // the backend's own latency
		}
		fmt.Fprint(w, "slow")
	})
	// flaky passes its health checks but drops every proxied request:
	// each try is retried elsewhere, and its breaker trips.
	flaky := newBackend(t, "flaky", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/health") {
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	// Nothing listens here; its long URL and the long health check path
	// make long strings for the layout.
	dead := deadURL(t) + "/" + strings.Repeat("a-very-long-path-segment-", 8)
	healthPath := "/health/" + strings.Repeat("check-", 20)
	// A route of its own, so the default route's counters stay as the
	// tests after this one expect them.
	const route = "sp|*|*/page/"
	newTesterJSON(t, fmt.Sprintf(`{"handler": "subroute", "routes": [
		{"match": [{"path": ["/_status/*"]}], "handle": [{"handler": "smartproxy_status"}]},
		{"match": [{"path": ["/_frame"]}], "handle": [{"handler": "static_response", "body": %q,
			"headers": {"Content-Type": ["text/html; charset=utf-8"]}}]},
		{"handle": [{"handler": "smartproxy", "routes": [{"path": "/page/", "backends": [{"url": %q}, {"url": %q}, {"url": %q}, {"url": %q}],
			"circuit_breaker": {"failure_threshold": 2, "base_backoff": "60s", "max_backoff": "60s"}, "health_check": {"interval": "200ms", "timeout": "100ms", "path": %q},
			"rate_limit": {"requests_per_second": 0.01, "burst": 40},
			"cache": {"max_size": 100, "ttl": "60s"}}]}]}]}`, phoneFrame, good.URL, slow.URL, flaky.URL, dead, healthPath))

	// Tracking starts with the first look; wait until the dead backend
	// is known to be down.
	// Route counters outlive a reload that keeps the route's name (an
	// earlier test's), so this test counts from what they were.
	var before map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		before = apiRoute(t, apiStatus(t), route)
		b := apiBackend(t, before, dead)
		if h, _ := b["health"].(map[string]any); h != nil && h["state"] == "unhealthy" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead backend is not unhealthy after 10 s: %v", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	client := newClient()
	refused, cachedOK := 0, 0
	for i := range 50 {
		path := fmt.Sprintf("/page/p/%d", i)
		if i%5 == 0 {
			path = "/page/cached"
		}
		code, _ := get(t, client, path)
		switch code {
		case http.StatusOK:
			if path == "/page/cached" {
				cachedOK++
			}
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("GET %s: %d", path, code)
		}
	}
	if refused != 10 {
		t.Fatalf("%d requests refused, want 10 (burst 40 of 50)", refused)
	}
	// The live point needs a quarter second since the last sample.
	time.Sleep(300 * time.Millisecond)

	dir := os.Getenv("STATUSPAGE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	wide := browse(t, proxyURL+"/_status/", 1280, 900, filepath.Join(dir, "status-1280x900.png"))
	doc := apiStatus(t)
	rt := apiRoute(t, doc, route)

	if strings.Contains(wide, `id="error">Could not load`) {
		t.Fatalf("the page could not load the status API:\n%s", wide)
	}
	// The route's facts are the API's.
	sec := wide[strings.Index(wide, `data-route="`+route+`"`):]
	lim, cache := rt["rate_limit"].(map[string]any), rt["cache"].(map[string]any)
	for key, want := range map[string]string{
		"refused":   fmt.Sprint(lim["refused"]),
		"retries":   fmt.Sprint(rt["retries"]),
		"hits":      fmt.Sprint(cache["hits"]),
		"misses":    fmt.Sprint(cache["misses"]),
		"coalesced": fmt.Sprint(cache["coalesced"]),
		"stale":     fmt.Sprint(cache["stale_served"]),
		"entries":   fmt.Sprint(cache["entries"]),
	} {
		if got := domValue(t, sec, key); got != want {
			t.Errorf("page %s %q, API %q", key, got, want)
		}
	}
	if d := lim["refused"].(float64) - before["rate_limit"].(map[string]any)["refused"].(float64); d != float64(refused) {
		t.Errorf("API refused %v more, clients saw %d", d, refused)
	}
	if d := cache["hits"].(float64) - before["cache"].(map[string]any)["hits"].(float64); d != float64(cachedOK-1) {
		t.Errorf("API cache hits %v more, want %d (%d GETs of /cached let through, the first a miss)", d, cachedOK-1, cachedOK)
	}
	// Each backend's row is the API's; the dead one shows no numbers it
	// does not have.
	for _, url := range []string{good.URL, slow.URL, flaky.URL, dead} {
		b := apiBackend(t, rt, url)
		row := domRow(t, wide, url)
		if got, want := domValue(t, row, "requests"), fmt.Sprint(b["requests"]); got != want {
			t.Errorf("%s: page requests %s, API %s", url, got, want)
		}
		if r, _ := b["requests"].(float64); r > 0 {
			if got, want := domValue(t, row, "errors"), fmt.Sprintf("%.1f %%", 100*b["error_rate"].(float64)); got != want {
				t.Errorf("%s: page errors %q, API %q", url, got, want)
			}
		}
		for _, k := range []string{"p50", "p99"} {
			v, _ := b["latency_"+k+"_ms"].(float64)
			got := domValue(t, row, k)
			switch {
			case b["latency_"+k+"_ms"] == nil && got != "—":
				t.Errorf("%s: page %s %q for a backend with no answers, want —", url, k, got)
			case b["latency_"+k+"_ms"] != nil && !strings.HasSuffix(got, " ms"):
				t.Errorf("%s: page %s %q, API %v ms", url, k, got, v)
			}
		}
		if b["requests"] == float64(0) {
			if got := domValue(t, row, "errors"); got != "—" {
				t.Errorf("%s: page errors %q with no requests, want —", url, got)
			}
		}
	}
	// The flaky backend's tries were retried, and its breaker is open
	// with a probe due.
	if d := rt["retries"].(float64) - before["retries"].(float64); d < 2 {
		t.Errorf("API retries %v more, want at least 2 (flaky's dropped tries)", d)
	}
	fb := apiBackend(t, rt, flaky.URL)
	if br := fb["breaker"].(map[string]any); br["state"] != "open" || br["trips"] != float64(1) || br["next_probe"] == nil {
		t.Errorf("flaky backend's breaker %v, want open, 1 trip, a next probe", br)
	}
	if fb["error_rate"] != float64(1) || fb["latency_p50_ms"] != nil {
		t.Errorf("flaky backend: error rate %v, p50 %v; want 1 and none", fb["error_rate"], fb["latency_p50_ms"])
	}
	flakyRow := domRow(t, wide, flaky.URL)
	for _, want := range []string{">open<", "probe in ", "1 trip", "100.0 %"} {
		if !strings.Contains(flakyRow, want) {
			t.Errorf("flaky backend's row lacks %q: %s", want, flakyRow)
		}
	}
	deadRow := domRow(t, wide, dead)
	for _, want := range []string{"unhealthy", "down "} {
		if !strings.Contains(deadRow, want) {
			t.Errorf("dead backend's row lacks %q: %s", want, deadRow)
		}
	}
	if b := apiBackend(t, rt, dead); b["latency_p50_ms"] != nil {
		t.Errorf("dead backend has a p50 in the API: %v", b["latency_p50_ms"])
	}
	lastErr := apiBackend(t, rt, dead)["health"].(map[string]any)["last_error"].(string)
	if len(lastErr) < 150 {
		t.Errorf("the dead backend's error is only %d bytes; the layout test needs a long one: %q", len(lastErr), lastErr)
	}
	// The slow backend's percentiles show its 15 ms.
	if p50, _ := apiBackend(t, rt, slow.URL)["latency_p50_ms"].(float64); p50 < 12 || p50 > 40 {
		t.Errorf("slow backend p50 %v ms, want about 15", p50)
	}
	// Charts: drawn for the backends that answered, empty for the dead one.
	for _, url := range []string{good.URL, slow.URL} {
		for _, series := range []string{"rps", "p50", "p99"} {
			if n, mx := domChart(t, wide, url, series); n == 0 || mx <= 0 {
				t.Errorf("%s chart of %s: %d points, max %v; want a line after traffic", series, url, n, mx)
			}
		}
	}
	if n, _ := domChart(t, wide, dead, "p50"); n != 0 {
		t.Errorf("the dead backend's p50 chart has %d points", n)
	}
	// No horizontal scrolling at 1280 px, nor in a phone's 390 px (in a
	// frame: headless Chromium lays a page out at least 500 px wide).
	checkWidth(t, wide, 1280)
	browse(t, proxyURL+"/_status/", 390, 844, filepath.Join(dir, "status-390x844.png"))
	framed := browse(t, proxyURL+"/_frame", 1280, 900, "")
	m := regexp.MustCompile(`data-framed="(\d+) (\d+)"`).FindStringSubmatch(framed)
	if m == nil {
		t.Fatalf("the framed page did not report its width:\n%s", framed)
	}
	frame, page := atoi(t, m[1]), atoi(t, m[2])
	if frame != 390 || page > frame {
		t.Errorf("in a %d px frame (want 390) the page is %d px wide: it scrolls horizontally", frame, page)
	}
	t.Logf("screenshots in %s", dir)
}

// phoneFrame shows the status page in a frame of a phone's size and
// copies the width the page laid out to data-framed="FRAME PAGE".
const phoneFrame = `<!doctype html><html><body style="margin:0">
<iframe id="f" src="/_status/" width="390" height="844" style="border:0"></iframe>
<script>
const f = document.getElementById("f");
const poll = () => {
  const d = f.contentDocument && f.contentDocument.documentElement;
  const w = d && d.getAttribute("data-scroll-width");
  if (w) document.body.setAttribute("data-framed", f.contentWindow.innerWidth + " " + w);
  else setTimeout(poll, 100);
};
poll();
</script></body></html>`

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkWidth fails unless the page laid out within the window's width.
func checkWidth(t *testing.T, dom string, width int) {
	t.Helper()
	m := regexp.MustCompile(`data-scroll-width="(\d+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the page did not report its width")
	}
	if w, _ := strconv.Atoi(m[1]); w > width {
		t.Errorf("at %d px the page is %d px wide: it scrolls horizontally", width, w)
	}
}
