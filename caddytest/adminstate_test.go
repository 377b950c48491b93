package caddytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// Runtime backend state through the admin API (issue 16, part 2): drain,
// maint, ready and live weights, with real backends, a real Caddy and its
// admin endpoint.

// defaultRoute is the id of the default route of a config made by start.
const defaultRoute = "sp|*|default"

// postState posts body to /smartproxy/backends/state with the given extra
// headers (name, value, ...) and returns the status and the decoded answer.
func postState(t *testing.T, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://localhost:2999/smartproxy/backends/state", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// setState changes a backend's state (and weight, unless w is nil) and
// returns its new status object in the default route.
func setState(t *testing.T, url, state string, w *int) map[string]any {
	t.Helper()
	req := map[string]any{"url": url}
	if state != "" {
		req["state"] = state
	}
	if w != nil {
		req["weight"] = *w
	}
	body, _ := json.Marshal(req)
	code, out := postState(t, string(body))
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %v", body, code, out)
	}
	for _, c := range out["changed"].([]any) {
		if c := c.(map[string]any); c["route"] == defaultRoute {
			return c["backend"].(map[string]any)
		}
	}
	t.Fatalf("POST %s: the default route is not in the answer %v", body, out)
	return nil
}

// blockingBackend answers /slow only when release is closed, and tells
// started of each /slow request it holds; anything else gets its name.
func blockingBackend(t *testing.T, name string, started chan<- string, release <-chan struct{}) *backend {
	return newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- name
			<-release
		}
		io.WriteString(w, name)
	})
}

// Drain and maint stop new requests at once while a request in flight
// finishes 200; ready brings the backend back.
func TestAdminStateDrainMaintReady(t *testing.T) {
	for _, state := range []string{"drain", "maint"} {
		t.Run(state, func(t *testing.T) {
			started, release := make(chan string, 2), make(chan struct{})
			a := blockingBackend(t, "a", started, release)
			b := blockingBackend(t, "b", started, release)
			start(t, map[string]any{"backends": backends(a, b), "load_balancer": map[string]any{"algorithm": "round_robin"}})
			client := newClient()
			// One slow request to each backend (round robin), held open.
			var wg sync.WaitGroup
			slow := make([]int, 2)
			for i := range 2 {
				wg.Go(func() { slow[i], _ = get(t, client, "/slow") })
			}
			for range 2 {
				select {
				case <-started:
				case <-time.After(5 * time.Second):
					close(release)
					t.Fatal("the slow requests did not reach both backends")
				}
			}
			st := setState(t, a.URL, state, nil)
			if st["admin_state"] != state || st["available"] != false || st["in_flight"] != float64(1) {
				close(release)
				t.Fatalf("after %s: status %v, want admin_state %s, not available, 1 in flight", state, st, state)
			}
			hitsA := a.hits.Load()
			for i := range 20 {
				if code, body := get(t, client, fmt.Sprintf("/n/%d", i)); code != 200 || body != "b" {
					close(release)
					t.Fatalf("request %d while a is %sed: %d %q, want 200 from b", i, state, code, body)
				}
			}
			if d := a.hits.Load() - hitsA; d != 0 {
				t.Errorf("a got %d new requests while %sed", d, state)
			}
			close(release)
			wg.Wait()
			if slow[0] != 200 || slow[1] != 200 {
				t.Fatalf("the requests in flight got %v, want both 200", slow)
			}
			// The state is in the status document and in /metrics.
			doc := apiStatus(t)
			if got := apiBackend(t, apiRoute(t, doc, defaultRoute), a.URL)["admin_state"]; got != state {
				t.Errorf("status admin_state %v, want %s", got, state)
			}
			want := map[string]float64{"drain": 1, "maint": 2}[state]
			if got := sample(t, scrape(t), "caddy_smartproxy_backend_admin_state", `backend="`+a.URL+`"`); got != want {
				t.Errorf("caddy_smartproxy_backend_admin_state %v, want %v", got, want)
			}
			// Ready: traffic returns, half of it to a.
			if st := setState(t, a.URL, "ready", nil); st["admin_state"] != "ready" || st["available"] != true {
				t.Fatalf("after ready: %v", st)
			}
			hitsA = a.hits.Load()
			for i := range 20 {
				if code, _ := get(t, client, fmt.Sprintf("/r/%d", i)); code != 200 {
					t.Fatalf("request %d after ready: %d", i, code)
				}
			}
			if d := a.hits.Load() - hitsA; d != 10 {
				t.Errorf("a got %d of 20 requests after ready, want 10 (round robin)", d)
			}
			if got := sample(t, scrape(t), "caddy_smartproxy_backend_admin_state", `backend="`+a.URL+`"`); got != 0 {
				t.Errorf("caddy_smartproxy_backend_admin_state %v after ready, want 0", got)
			}
		})
	}
}

// shares sends n requests and returns how many each backend got.
func shares(t *testing.T, n int, bs ...*backend) []int64 {
	t.Helper()
	before := hitsOf(bs...)
	client := newClient()
	for i := range n {
		if code, _ := get(t, client, fmt.Sprintf("/w/%d", i)); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	after := hitsOf(bs...)
	for i := range after {
		after[i] -= before[i]
	}
	return after
}

func TestAdminWeightChangesTheShareLive(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	start(t, map[string]any{"backends": backends(a, b), "load_balancer": map[string]any{"algorithm": "weighted_round_robin"}})
	if got := shares(t, 400, a, b); got[0] != 200 || got[1] != 200 {
		t.Fatalf("weights 1:1: %v", got)
	}
	three := 3
	st := setState(t, a.URL, "", &three)
	if st["weight"] != float64(3) || st["configured_weight"] != float64(1) || st["admin_state"] != "ready" {
		t.Fatalf("after weight 3: %v", st)
	}
	if got := shares(t, 400, a, b); got[0] != 300 || got[1] != 100 {
		t.Fatalf("weights 3:1: a %d, b %d, want 300 and 100", got[0], got[1])
	}
	if got := sample(t, scrape(t), "caddy_smartproxy_backend_weight", `backend="`+a.URL+`"`); got != 3 {
		t.Errorf("caddy_smartproxy_backend_weight %v, want 3", got)
	}
}

// The state and the weight survive a reload of the same config; a reload
// that changes the backend's configured weight drops the live weight; a
// backend that leaves the config forgets its state.
func TestAdminStateSurvivesReload(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	cfg := func(wa int, bs ...*backend) string {
		list := backends(bs...)
		list[0]["weight"] = wa
		h, _ := json.Marshal(map[string]any{"handler": "smartproxy", "backends": list,
			"load_balancer": map[string]any{"algorithm": "weighted_round_robin"}})
		return serverJSON(string(h))
	}
	newTesterJSON(t, `{"handler": "static_response", "body": "warming"}`)
	loadConfig(t, cfg(1, a, b))
	two := 2
	setState(t, b.URL, "drain", nil)
	setState(t, a.URL, "", &two)
	loadConfig(t, cfg(1, a, b)) // the same config again
	rt := apiRoute(t, apiStatus(t), defaultRoute)
	if st := apiBackend(t, rt, b.URL); st["admin_state"] != "drain" || st["available"] != false {
		t.Fatalf("after a reload b is %v, want still drained", st)
	}
	if st := apiBackend(t, rt, a.URL); st["weight"] != float64(2) {
		t.Fatalf("after a reload a's weight is %v, want still 2", st["weight"])
	}
	if got := shares(t, 20, a, b); got[1] != 0 {
		t.Fatalf("b got %d requests after the reload, drained", got[1])
	}
	// The operator edits a's weight in the config: the config wins.
	loadConfig(t, cfg(5, a, b))
	if st := apiBackend(t, apiRoute(t, apiStatus(t), defaultRoute), a.URL); st["weight"] != float64(5) || st["configured_weight"] != nil {
		t.Fatalf("after a's configured weight changed to 5: %v", st)
	}
	// b leaves the config and comes back: its state is gone.
	loadConfig(t, cfg(1, a))
	loadConfig(t, cfg(1, a, b))
	if st := apiBackend(t, apiRoute(t, apiStatus(t), defaultRoute), b.URL); st["admin_state"] != "ready" || st["available"] != true {
		t.Fatalf("b came back to the config as %v, want ready", st)
	}
	if got := shares(t, 20, a, b); got[1] != 10 {
		t.Fatalf("b got %d of 20 after it came back, want 10", got[1])
	}
}

// Errors: 404 for what does not exist, 400 for a body that is not one
// valid request, 405 for another method, Caddy's 403 for a cross-site
// page; each a JSON error, and nothing changes.
func TestAdminStateRefusesBadRequests(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	start(t, map[string]any{"backends": backends(a, b)})
	u := a.URL
	for _, tc := range []struct {
		name string
		body string
		hdr  []string
		code int
		want string
	}{
		{"unknown backend", `{"url": "http://127.0.0.1:1", "state": "drain"}`, nil, 404, "no route has backend"},
		{"unknown route", `{"url": "` + u + `", "route": "sp|*|nope", "state": "drain"}`, nil, 404, "no route"},
		{"unknown state", `{"url": "` + u + `", "state": "down"}`, nil, 400, `must be "ready", "drain" or "maint"`},
		{"negative weight", `{"url": "` + u + `", "weight": -3}`, nil, 400, "must be 0 or more"},
		{"huge weight", `{"url": "` + u + `", "weight": 99999999999999999999}`, nil, 400, "cannot unmarshal"},
		{"weight as string", `{"url": "` + u + `", "weight": "2"}`, nil, 400, "cannot unmarshal"},
		{"state as object", `{"url": "` + u + `", "state": {"$gt": ""}}`, nil, 400, "cannot unmarshal"},
		{"unknown key", `{"url": "` + u + `", "state": "drain", "all": true}`, nil, 400, `unknown field "all"`},
		{"not JSON", `state=drain&url=` + u, nil, 400, "invalid character"},
		{"two objects", `{"url": "` + u + `", "state": "drain"} {"url": "` + b.URL + `", "state": "drain"}`, nil, 400, "nothing after it"},
		{"too large", `{"url": "` + u + `", "state": "drain", "route": "` + strings.Repeat("r", 1<<20) + `"}`, nil, 400, "larger than"},
		{"cross-site page", `{"url": "` + u + `", "state": "drain"}`, []string{"Origin", "http://evil.example"}, 403, "not allowed to access from origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := postState(t, tc.body, tc.hdr...)
			msg, _ := out["error"].(string)
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %v, want %d with %q", code, out, tc.code, tc.want)
			}
			if len(msg) > 1000 {
				t.Errorf("the error echoes %d bytes", len(msg))
			}
		})
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, "http://localhost:2999/smartproxy/backends/state", bytes.NewReader(nil))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s: %d, Allow %q; want 405, Allow POST", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	// Nothing was changed by any of them.
	rt := apiRoute(t, apiStatus(t), defaultRoute)
	for _, bk := range []*backend{a, b} {
		if st := apiBackend(t, rt, bk.URL); st["admin_state"] != "ready" || st["weight"] != float64(1) {
			t.Errorf("%s after refused requests: %v", bk.name, st)
		}
	}
}

// A WebSocket tunnel to a backend that is drained (and then put in
// maintenance) stays open and keeps echoing; only new requests go
// elsewhere.
func TestAdminDrainKeepsTunnels(t *testing.T) {
	wb := newWSBackend(t, func(c *websocket.Conn) {
		var s string
		for websocket.Message.Receive(c, &s) == nil {
			if websocket.Message.Send(c, s) != nil {
				return
			}
		}
	})
	plain := newBackend(t, "plain", nil)
	start(t, map[string]any{"backends": backends(wb.backend, plain)})
	// The tunnel must reach the WebSocket backend: the plain one is out
	// while it opens.
	setState(t, plain.URL, "maint", nil)
	tun := openTunnel(t)
	defer tun.nc.Close()
	setState(t, plain.URL, "ready", nil)
	echo := func(msg string) {
		t.Helper()
		tun.nc.SetDeadline(time.Now().Add(5 * time.Second))
		var got string
		if err := websocket.Message.Send(tun.ws, msg); err != nil {
			t.Fatalf("send %q: %v", msg, err)
		}
		if err := websocket.Message.Receive(tun.ws, &got); err != nil || got != msg {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
	echo("before")
	for _, state := range []string{"drain", "maint"} {
		if st := setState(t, wb.URL, state, nil); st["in_flight"] != float64(1) || st["available"] != false {
			t.Fatalf("after %s the tunnel's backend is %v, want 1 in flight, not available", state, st)
		}
		echo("while " + state)
		hits := wb.hits.Load()
		if got := shares(t, 10, plain); got[0] != 10 || wb.hits.Load() != hits {
			t.Fatalf("while %s: plain got %d of 10, the WebSocket backend %d", state, got[0], wb.hits.Load()-hits)
		}
	}
	if wb.open.Load() != 1 {
		t.Fatalf("the WebSocket backend has %d connections, want the one tunnel", wb.open.Load())
	}
}
