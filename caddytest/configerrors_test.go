package caddytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// postLoad posts a config to the admin API's /load with the given
// Content-Type and returns the status and the error message (or body).
func postLoad(t *testing.T, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://localhost:2999/load", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var apiErr struct{ Error string }
	if json.Unmarshal(raw, &apiErr) == nil && apiErr.Error != "" {
		return resp.StatusCode, apiErr.Error
	}
	return resp.StatusCode, string(raw)
}

// TestConfigErrors posts broken configs in each front end's format to a
// running Caddy whose smartproxy handler serves a real backend: each is
// refused with a message that names the key (and, for YAML and the
// Caddyfile, the line) and the bad value, and the running config keeps
// serving. A good YAML config under the x-yaml media types then loads.
func TestConfigErrors(t *testing.T) {
	b := newBackend(t, "b", nil)
	start(t, map[string]any{"backends": backends(b)})
	c := newClient()
	if code, body := get(t, c, "/"); code != 200 || body != "b" {
		t.Fatalf("running config answered %d %q", code, body)
	}
	handler := func(rest string) string {
		return serverJSON(`{"handler":"smartproxy","backends":[{"url":"` + b.URL + `"}]` + rest + `}`)
	}
	yamlDoc := func(rest string) string {
		return "admin: localhost:2999\nserver:\n  port: 9080\n  host: 127.0.0.1\nbackends:\n  - url: " + b.URL + "\n" + rest
	}
	caddyfileDoc := func(rest string) string {
		return "{\n\tadmin localhost:2999\n}\nhttp://127.0.0.1:9080 {\n\tsmartproxy {\n\t\tto " + b.URL + "\n" + rest + "\t}\n}\n"
	}
	for _, tc := range []struct {
		name, contentType, body string
		want                    []string
	}{
		{"json typo", "application/json", handler(`,"health_check":{"intervl":"30s"}`),
			[]string{`http.handlers.smartproxy: unknown key "intervl" in health_check (did you mean "interval"?)`}},
		{"json weight as a string", "application/json",
			serverJSON(`{"handler":"smartproxy","backends":[{"url":"` + b.URL + `"},{"url":"http://127.0.0.1:1","weight":"2"}]}`),
			[]string{`backends[1].weight: wrong type: want an integer, got string "2"`}},
		{"json duration as a number", "application/json", handler(`,"timeout":30`),
			[]string{`timeout: 30ns: less than 1ms; a JSON number counts nanoseconds, so write a string such as "30s"`}},
		{"json duration without unit", "application/json", handler(`,"timeout":"30"`),
			[]string{`timeout: invalid duration: "30": want a number and a unit`}},
		{"json rate limit without burst", "application/json", handler(`,"rate_limit":{"requests_per_second":100}`),
			[]string{`rate_limit.burst: required: the bucket size`}},
		{"yaml typo", "application/yaml", yamlDoc("health_check:\n  intervl: 30s\n"),
			[]string{`config:8:3: unknown key "intervl" in health_check (did you mean "interval"?)`}},
		{"x-yaml tab", "application/x-yaml", yamlDoc("health_check:\n\tinterval: 30s\n"),
			[]string{`config:8:1: invalid yaml: tabs are not allowed in YAML indentation`}},
		{"text/x-yaml rate limit without burst", "text/x-yaml", yamlDoc("rate_limit:\n  requests_per_second: 100\n"),
			[]string{`config:8:3: rate_limit.burst: required: the bucket size`}},
		{"yaml two schemes", "application/yaml", yamlDoc("  - url: h2c://127.0.0.1:1\n"),
			[]string{`config:7:10: backends[1].url: "h2c://127.0.0.1:1": one route's backends must share a scheme`}},
		{"caddyfile rate limit without burst", "text/caddyfile", caddyfileDoc("\t\trate_limit 100\n"),
			[]string{`rate_limit.burst: required: the bucket size`, `at Caddyfile:7`}},
		{"caddyfile typo", "text/caddyfile", caddyfileDoc("\t\thealth_check {\n\t\t\tintervl 5s\n\t\t}\n"),
			[]string{`health_check: unrecognized subdirective "intervl" (did you mean "interval"?)`, `Caddyfile:8`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := postLoad(t, tc.contentType, tc.body)
			if code != http.StatusBadRequest {
				t.Errorf("POST /load: status %d (%s), want 400", code, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n %s\ndoes not contain\n %s", msg, w)
				}
			}
			if code, body := get(t, c, "/"); code != 200 || body != "b" {
				t.Fatalf("after the refused load the running config answered %d %q", code, body)
			}
		})
	}
	// The x-yaml media types reach the yaml adapter for good configs too.
	for _, ct := range []string{"application/x-yaml", "text/x-yaml"} {
		code, msg := postLoad(t, ct, yamlDoc(fmt.Sprintf("health_check:\n  path: /%s\n", strings.ReplaceAll(ct, "/", "-"))))
		if code != http.StatusOK {
			t.Fatalf("POST /load %s: %d %s", ct, code, msg)
		}
		if code, body := get(t, c, "/"); code != 200 || body != "b" {
			t.Fatalf("after loading YAML as %s: %d %q", ct, code, body)
		}
	}
}
