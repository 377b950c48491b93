package caddytest

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// loadConfig replaces the running config through the admin API.
func loadConfig(t *testing.T, cfg string) {
	t.Helper()
	resp, err := http.Post("http://localhost:2999/load", "application/json", strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("load refused: %d %s", resp.StatusCode, body)
	}
}

var (
	backendLabel = regexp.MustCompile(`backend="([^"]*)"`)
	routeLabel   = regexp.MustCompile(`route="([^"]*)"`)
)

// exportedSeries scrapes /metrics and returns the backends and routes that
// smartproxy samples name, and each backend's requests_total.
func exportedSeries(t *testing.T) (backends, routes map[string]bool, requests map[string]float64) {
	t.Helper()
	backends, routes, requests = map[string]bool{}, map[string]bool{}, map[string]float64{}
	for _, line := range strings.Split(string(adminGet(t, "/metrics")), "\n") {
		if !strings.HasPrefix(line, "caddy_smartproxy_") {
			continue
		}
		b := backendLabel.FindStringSubmatch(line)
		if b != nil {
			backends[b[1]] = true
		}
		if r := routeLabel.FindStringSubmatch(line); r != nil {
			routes[r[1]] = true
		}
		if b != nil && strings.HasPrefix(line, "caddy_smartproxy_requests_total{") {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("bad sample %q", line)
			}
			requests[b[1]] += v
		}
	}
	return backends, routes, requests
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestMetricsOfDepartedBackendsAreDeleted reloads with changing backend
// sets: /metrics names exactly the backends (and routes) of the running
// config, and the one backend present throughout keeps counting across
// every reload.
func TestMetricsOfDepartedBackendsAreDeleted(t *testing.T) {
	bs := make([]*backend, 5)
	for i := range bs {
		bs[i] = newBackend(t, "b"+strconv.Itoa(i), nil)
	}
	const stays = 1
	rounds := []struct{ top, v1 []int }{
		{top: []int{0, 1}, v1: []int{2}},
		{top: []int{1, 3}},
		{top: []int{1, 4}, v1: []int{0}},
		{top: []int{1, 2, 3}},
		{top: []int{1}, v1: []int{4}},
	}
	pick := func(idx []int) []*backend {
		out := make([]*backend, len(idx))
		for i, j := range idx {
			out[i] = bs[j]
		}
		return out
	}
	handler := func(top, v1 []int) map[string]any {
		h := map[string]any{"backends": backends(pick(top)...)}
		if v1 != nil {
			h["routes"] = []map[string]any{{"path": "/v1/", "backends": backends(pick(v1)...)}}
		}
		return h
	}
	client := newClient()
	for i, r := range rounds {
		if i == 0 {
			start(t, handler(r.top, r.v1))
		} else {
			h := handler(r.top, r.v1)
			h["handler"] = "smartproxy"
			js, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			loadConfig(t, serverJSON(string(js)))
		}
		for range 4 * len(r.top) {
			if code, _ := get(t, client, "/"); code != 200 {
				t.Fatalf("round %d: GET / answered %d", i, code)
			}
		}
		for range 2 {
			if r.v1 != nil {
				if code, _ := get(t, client, "/v1/x"); code != 200 {
					t.Fatalf("round %d: GET /v1/x answered %d", i, code)
				}
			}
		}
		want := map[string]bool{}
		for _, j := range append(append([]int{}, r.top...), r.v1...) {
			want[bs[j].URL] = true
		}
		gotB, gotR, requests := exportedSeries(t)
		if strings.Join(keys(gotB), " ") != strings.Join(keys(want), " ") {
			t.Errorf("round %d: /metrics names backends %v, want those of the running config %v", i, keys(gotB), keys(want))
		}
		v1Route := false
		for name := range gotR {
			if strings.Contains(name, "/v1/") {
				v1Route = true
			}
		}
		if v1Route != (r.v1 != nil) {
			t.Errorf("round %d: route /v1/ in /metrics: %v, in the config: %v (routes %v)", i, v1Route, r.v1 != nil, keys(gotR))
		}
		if got, hits := requests[bs[stays].URL], float64(bs[stays].hits.Load()); got != hits {
			t.Errorf("round %d: the backend kept throughout counts %v requests, it served %v", i, got, hits)
		}
	}
}
