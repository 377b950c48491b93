package yamladapter

import "github.com/caddy-smartproxy/smartproxy/config"

// The smartproxy format has no handle_errors, and Caddy answers a handler
// error without error routes with an empty body: a 502 or 503 that says
// nothing. The generated server therefore gets one error route, which
// answers the status with a short plain-text reason:
//
//	503 Service Unavailable: no backend is available
//
// It runs only for errors returned before a response started (a backend
// failing mid-body aborts the connection instead) and keeps the headers
// already set, such as Retry-After and RateLimit on a 429. The reasons
// name no backend address: the client learns what happened, not where.

// errorReasons maps a status to the reason after its text. A shared
// rate-limit store that fails closed also answers 503, so when one is
// configured the 503 reason says so.
func errorReasons(cfg *config.Config) [][2]string {
	unavailable := "no backend is available"
	if failsClosed(cfg) {
		unavailable += ", or the shared rate-limit store is unreachable"
	}
	return [][2]string{
		{"429", "the rate limit is exceeded; retry after the Retry-After header's seconds"},
		{"502", "a backend failed or answered with an invalid response"},
		{"503", unavailable},
		{"504", "the backend did not answer in time"},
	}
}

// failsClosed reports whether any route's rate limit uses a shared store
// that refuses requests when the store is unreachable.
func failsClosed(cfg *config.Config) bool {
	closed := func(r *config.RateLimit) bool {
		return r != nil && r.Redis != nil && r.Redis.FailurePolicy == "fail_closed"
	}
	if closed(cfg.RateLimit) {
		return true
	}
	for i := range cfg.Routes {
		if closed(cfg.Routes[i].RateLimit) {
			return true
		}
	}
	return false
}

// errorRoutes is the generated server's error handling: one route per
// status with a reason (matched with Caddy's core vars matcher on the
// status placeholder), then one for any other status. static_response
// ends the chain, so the first route that matches answers.
func errorRoutes(cfg *config.Config) *errorsJSON {
	const status = "{http.error.status_code}"
	answer := func(body string) staticJSON {
		return staticJSON{
			Handler:    "static_response",
			StatusCode: status,
			Headers: map[string][]string{
				"Content-Type":           {"text/plain; charset=utf-8"},
				"X-Content-Type-Options": {"nosniff"},
			},
			Body: status + " {http.error.status_text}" + body + "\n",
		}
	}
	var routes []errorRouteJSON
	for _, r := range errorReasons(cfg) {
		routes = append(routes, errorRouteJSON{
			Match:  []map[string]map[string][]string{{"vars": {status: {r[0]}}}},
			Handle: []staticJSON{answer(": " + r[1])},
		})
	}
	routes = append(routes, errorRouteJSON{Handle: []staticJSON{answer("")}})
	return &errorsJSON{Routes: routes}
}

type (
	errorsJSON struct {
		Routes []errorRouteJSON `json:"routes"`
	}
	errorRouteJSON struct {
		Match  []map[string]map[string][]string `json:"match,omitempty"`
		Handle []staticJSON                     `json:"handle"`
	}
	staticJSON struct {
		Handler    string              `json:"handler"`
		StatusCode string              `json:"status_code"`
		Headers    map[string][]string `json:"headers"`
		Body       string              `json:"body"`
	}
)
