package caddytest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The status page's Drain / Maint / Ready buttons in a real browser: on
// the page the admin endpoint serves (its fetch must pass Caddy's Origin
// checks) and on a status handler configured with controls. A click
// drains a backend in the API and traffic stops; Ready brings it back.
// Without controls the site's page has no buttons and no state API.

// rowHas is a JavaScript expression: the backend's row contains sel.
func rowHas(url, sel string) string {
	return fmt.Sprintf(`!!document.querySelector('tr.backend[data-backend=%q] %s')`, url, sel)
}

// click is a JavaScript expression that clicks the backend's button.
func click(url, action string) string {
	return fmt.Sprintf(`(() => { const b = document.querySelector('tr.backend[data-backend=%q] button[data-action=%q]'); if (!b) return false; b.click(); return true; })()`, url, action)
}

func TestStatusPageStateButtons(t *testing.T) {
	if chromium() == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run does this)")
	}
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	newTesterJSON(t, fmt.Sprintf(`{"handler": "subroute", "routes": [
		{"match": [{"path": ["/_status/*"]}], "handle": [{"handler": "smartproxy_status", "controls": true}]},
		{"match": [{"path": ["/_plain/*"]}], "handle": [{"handler": "smartproxy_status"}]},
		{"handle": [{"handler": "smartproxy", "backends": [{"url": %q}, {"url": %q}]}]}]}`, a.URL, b.URL))
	dir := os.Getenv("STATUSPAGE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, tc := range []struct {
		name, page, referrer, shot string
	}{
		// A link from the admin endpoint's own origin: the Referer is
		// what Caddy checks on a navigation.
		{"admin endpoint", "http://localhost:2999/smartproxy/", "http://localhost:2999/smartproxy/", "status-controls-admin-1280x900.png"},
		{"status handler with controls", proxyURL + "/_status/", "", "status-controls-site-1280x900.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCDP(t, 1280, 900)
			c.navigate(tc.page, tc.referrer)
			if !c.waitTrue(rowHas(a.URL, `button[data-action="drain"]`), 10*time.Second) {
				var text string
				c.eval(`document.body ? document.body.innerText : ""`, &text)
				t.Fatalf("no Drain button for %s on %s:\n%s", a.URL, tc.page, text)
			}
			var ok bool
			if c.eval(click(a.URL, "drain"), &ok); !ok {
				t.Fatal("could not click Drain")
			}
			if !eventually(5*time.Second, func() bool {
				return apiBackend(t, apiRoute(t, apiStatus(t), defaultRoute), a.URL)["admin_state"] == "drain"
			}) {
				var msg string
				c.eval(`document.getElementById("error").textContent`, &msg)
				t.Fatalf("after clicking Drain the API says %v; page error %q", apiBackend(t, apiRoute(t, apiStatus(t), defaultRoute), a.URL), msg)
			}
			if got := shares(t, 20, a, b); got[0] != 0 || got[1] != 20 {
				t.Fatalf("after Drain: a got %d, b %d of 20; want 0 and 20", got[0], got[1])
			}
			// The page shows it, and offers Ready instead of Drain.
			if !c.waitTrue(rowHas(a.URL, `.pill.warn`)+" && "+rowHas(a.URL, `button[data-action="ready"]`)+" && !"+rowHas(a.URL, `button[data-action="drain"]`), 5*time.Second) {
				t.Fatal("the page does not show a drained backend with a Ready button")
			}
			var width int
			c.eval(`document.documentElement.scrollWidth`, &width)
			if width > 1280 {
				t.Errorf("with buttons the page is %d px wide at 1280", width)
			}
			c.screenshot(filepath.Join(dir, tc.shot))
			// A phone's width: the buttons wrap, nothing scrolls sideways.
			c.call(c.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true})
			if !c.waitTrue(`document.documentElement.clientWidth === 390`, 5*time.Second) {
				t.Fatal("the phone-sized viewport did not take")
			}
			c.eval(`document.documentElement.scrollWidth`, &width)
			if width > 390 {
				t.Errorf("with buttons the page is %d px wide at 390", width)
			}
			c.screenshot(filepath.Join(dir, strings.Replace(tc.shot, "1280x900", "390x844", 1)))
			c.call(c.session, "Emulation.clearDeviceMetricsOverride", map[string]any{})
			if c.eval(click(a.URL, "ready"), &ok); !ok {
				t.Fatal("could not click Ready")
			}
			if !eventually(5*time.Second, func() bool {
				return apiBackend(t, apiRoute(t, apiStatus(t), defaultRoute), a.URL)["admin_state"] == "ready"
			}) {
				t.Fatal("after clicking Ready the backend is not ready")
			}
			if got := shares(t, 20, a, b); got[0] != 10 {
				t.Fatalf("after Ready: a got %d of 20, want 10", got[0])
			}
		})
	}
	// Without controls: no buttons, and the state API is not there.
	c := startCDP(t, 1280, 900)
	c.navigate(proxyURL+"/_plain/", "")
	if !c.waitTrue(rowHas(a.URL, `td`), 10*time.Second) {
		t.Fatal("the plain page shows no row")
	}
	var buttons int
	c.eval(`document.querySelectorAll("button").length`, &buttons)
	if buttons != 0 {
		t.Errorf("the page without controls has %d buttons", buttons)
	}
	resp, err := http.Post(proxyURL+"/_plain/backends/state", "application/json", strings.NewReader(`{"url": "`+a.URL+`", "state": "drain"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to a status handler without controls: %d, want 405", resp.StatusCode)
	}
	t.Logf("screenshots in %s", dir)
}

// The site's state API refuses what a page of another site could send:
// another Origin, a cross-site fetch, a form's content type.
func TestStatusHandlerControlsRefuseCrossSite(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	newTesterJSON(t, fmt.Sprintf(`{"handler": "subroute", "routes": [
		{"match": [{"path": ["/_status/*"]}], "handle": [{"handler": "smartproxy_status", "controls": true}]},
		{"handle": [{"handler": "smartproxy", "backends": [{"url": %q}, {"url": %q}]}]}]}`, a.URL, b.URL))
	body := `{"url": "` + a.URL + `", "state": "drain"}`
	for _, tc := range []struct {
		name string
		hdr  []string
		code int
	}{
		{"another origin", []string{"Content-Type", "application/json", "Origin", "http://evil.example"}, 403},
		{"cross-site fetch", []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}, 403},
		{"a form", []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", proxyURL}, 415},
		{"text/plain", []string{"Content-Type", "text/plain"}, 415},
		{"this origin", []string{"Content-Type", "application/json", "Origin", proxyURL, "Sec-Fetch-Site", "same-origin"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, proxyURL+"/_status/backends/state", strings.NewReader(body))
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("%d, want %d", resp.StatusCode, tc.code)
			}
			want := "ready"
			if tc.code == 200 {
				want = "drain"
			}
			if got := apiBackend(t, apiRoute(t, apiStatus(t), defaultRoute), a.URL)["admin_state"]; got != want {
				t.Fatalf("admin_state %v, want %s", got, want)
			}
		})
	}
}
