package caddytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// statusAddr is where the YAML file's status page listens.
const statusAddr = "127.0.0.1:9081"

// TestStatusPageYAML: `status: ADDRESS` in the YAML file serves the page
// and the status document on a server of its own, beside the proxy.
func TestStatusPageYAML(t *testing.T) {
	b := newBackend(t, "b", nil)
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`server:
  host: 127.0.0.1
  port: 9080
backends:
  - url: %s
status: %s
admin: localhost:2999
logging: error
`, b.URL, statusAddr), "yaml")
	if t.Failed() {
		t.FailNow()
	}
	if code, body := get(t, newClient(), "/x"); code != 200 || body != "b" {
		t.Fatalf("proxy answered %d %q", code, body)
	}
	fetch := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := newClient().Get("http://" + statusAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, page := fetch("/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page, "<title>smartproxy status</title>") {
		t.Fatalf("status page: %d %s %.80q", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	resp, doc := fetch("/status")
	var st struct {
		Routes []struct {
			Name     string
			Backends []struct {
				URL      string
				Requests uint64
			}
		}
	}
	if err := json.Unmarshal([]byte(doc), &st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status document: %d %v %.200q", resp.StatusCode, err, doc)
	}
	found := false
	for _, r := range st.Routes {
		for _, bs := range r.Backends {
			if bs.URL == b.URL && bs.Requests == 1 && strings.HasPrefix(r.Name, "smartproxy|") {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("the status document lacks the YAML route's backend with 1 request: %s", doc)
	}
}

// TestStatusPageYAMLControls: `status: {listen: ADDRESS, controls: true}`
// serves the page with its buttons and the state API; a drain posted
// there stops the YAML route's traffic to the backend.
func TestStatusPageYAMLControls(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`server:
  host: 127.0.0.1
  port: 9080
backends:
  - url: %s
  - url: %s
status:
  listen: %s
  controls: true
admin: localhost:2999
logging: error
`, a.URL, b.URL, statusAddr), "yaml")
	if t.Failed() {
		t.FailNow()
	}
	resp, err := newClient().Get("http://" + statusAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `data-controls="on"`) {
		t.Fatal("the page has no controls")
	}
	resp, err = http.Post("http://"+statusAddr+"/backends/state", "application/json", strings.NewReader(`{"url": "`+a.URL+`", "state": "drain"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /backends/state: %d", resp.StatusCode)
	}
	if got := shares(t, 10, a, b); got[0] != 0 || got[1] != 10 {
		t.Fatalf("after the drain: a %d, b %d of 10", got[0], got[1])
	}
}
