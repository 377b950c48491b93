// Package yamladapter is the Caddy config adapter `yaml`: it turns a YAML
// file into Caddy's JSON config, so users can run
//
//	caddy run   --adapter yaml --config config.yaml
//	caddy adapt --adapter yaml --config config.yaml
//	curl -X POST localhost:2019/load -H 'Content-Type: application/yaml' --data-binary @config.yaml
//
// (application/x-yaml and text/x-yaml work too: the adapter is also
// registered as `x-yaml`.)
//
// It reads two kinds of file, told apart by their top-level keys:
//
//   - The smartproxy format (the seed's file): `server` (port, host,
//     timeout), the smartproxy handler's sections (backends,
//     load_balancer, health_check, circuit_breaker, rate_limit, cache,
//     retries, routes), and optional `admin` (a listen address such as
//     localhost:2019, or off), `logging` (debug, info, warn or error) and
//     `status` (the listen address of the live status page, such as
//     127.0.0.1:2020, or off, the default: see status.go).
//     It becomes a complete config: one HTTP server named "smartproxy"
//     listening on server.host:server.port whose one route is the
//     smartproxy handler. server.port defaults to 8080 (DefaultPort) and
//     server.host to every interface; server.timeout is the handler's
//     timeout. The handler's keys are read from the config package's Go
//     types by their json tags, so a key added there is accepted here.
//     Errors the handler returns before a response starts are answered
//     with the status and a plain-text reason, such as "503 Service
//     Unavailable: no backend is available", instead of Caddy's empty
//     body (see errorpage.go).
//   - Caddy's own config written in YAML (top-level apps, admin, logging,
//     storage as mappings): converted to JSON as-is and passed through;
//     Caddy checks it when it loads it. A file that mixes keys of both
//     kinds is refused, naming the offending key.
//
// The smartproxy format is decoded strictly. Unknown keys (with the
// nearest known key as a suggestion), duplicate keys, wrong types, bad
// durations and every rule of config.Validate are errors that name the
// file, line and column: `FILE:LINE:COLUMN: PATH: CAUSE` (see Error). An
// error leaves nothing half-applied: Adapt returns no output at all.
//
// Value rules: durations are strings in Caddy's syntax ("30s", "1m30s",
// "1d"); a bare number other than 0 is refused, since a YAML user means
// seconds where Caddy's JSON means nanoseconds. Numbers and booleans must
// not be quoted; a string key accepts unquoted numbers (expect_status:
// 200). An empty section (`health_check:`) turns it on with its defaults.
// Anchors, aliases and merge keys (<<) are supported; a file whose aliases
// and merges expand to more than 50 nodes per byte (at most 2^20 nodes) is
// refused (ErrTooLarge), at the line where the expansion ran over.
//
// Suspicious but valid input in the smartproxy format gives warnings
// (caddyconfig.Warning with File, Line and the key path as Directive;
// Caddy logs them and the config still loads):
//
//   - health_check.timeout over half of the interval (default 30s): a slow
//     check runs into the next one;
//   - circuit_breaker.latency_threshold at or over the section's timeout
//     (default 30s): requests time out first, so it never trips;
//   - cache.ttl over cache.max_ttl: the cap wins;
//   - a cache with neither ttl nor max_size: only responses that carry
//     their own freshness (max-age, Expires) are stored;
//   - no backends and no routes: nothing to forward to;
//   - admin listening off loopback: anyone who reaches it can replace the
//     config.
//   - status listening off loopback: anyone who reaches it sees every
//     route and backend.
//
// The output is deterministic: the same input gives the same bytes. Its
// durations are integers of nanoseconds, as json.Marshal writes a
// caddy.Duration and as Caddy's own adapters emit them.
//
// Name clash: Caddy's adapters share one namespace and RegisterAdapter
// panics on a second registration, so a build cannot hold this package and
// another plugin that registers an adapter named `yaml` or `x-yaml` (such as
// github.com/abiosoft/caddy-yaml). This adapter reads Caddy's own config
// in YAML as well, so the other plugin is not needed.
package yamladapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"gopkg.in/yaml.v3"
)

// The adapter is registered as `yaml`, and as `x-yaml` so that the admin
// API's POST /load, which names the adapter by the Content-Type's subtype,
// takes application/x-yaml and text/x-yaml as well as application/yaml.
func init() {
	caddyconfig.RegisterAdapter("yaml", Adapter{})
	caddyconfig.RegisterAdapter("x-yaml", Adapter{})
}

// DefaultFile names the input in errors and warnings when the caller gives
// no filename, as the admin API's POST /load does.
const DefaultFile = "config"

// Adapter is the `yaml` config adapter; its zero value is ready to use and
// holds no state, so one value serves concurrent calls.
type Adapter struct{}

// Adapt converts a YAML body to Caddy JSON. options may be nil; its
// "filename" entry (set by `caddy run` and `caddy adapt`) names the file in
// errors and warnings, which otherwise say "config" (DefaultFile). Every
// error is an
// *Error.
func (Adapter) Adapt(body []byte, options map[string]any) ([]byte, []caddyconfig.Warning, error) {
	file := DefaultFile
	if s, ok := options["filename"].(string); ok && s != "" {
		file = s
	}
	w := newWalker(file, body)
	out, warnings, err := w.adapt(body)
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <, > and & readable in URLs and headers
	if err := enc.Encode(out); err != nil {
		return nil, nil, &Error{File: file, Line: 1, Err: fmt.Errorf("encoding json: %w", err)}
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), warnings, nil
}

// adapt returns the JSON-ready config and its warnings.
func (w *walker) adapt(body []byte) (any, []caddyconfig.Warning, error) {
	doc, err := parse(w.file, body)
	if err != nil {
		return nil, nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil, w.errAt(doc, "", errf(ErrEmpty, "(the document is empty)"))
	}
	top, err := w.enter(doc.Content[0], "")
	if err != nil {
		return nil, nil, err
	}
	defer w.leave(top)
	if isNull(top) {
		return nil, nil, w.errAt(top, "", errf(ErrEmpty, "(the document is empty)"))
	}
	if top.Kind != yaml.MappingNode {
		return nil, nil, w.errAt(top, "", errf(ErrType, "of the top level: want a mapping, got %s", describe(top)))
	}
	w.nodes[""] = top
	ps, err := w.pairs(top, "")
	if err != nil {
		return nil, nil, err
	}
	kind, err := w.format(ps)
	if err != nil {
		return nil, nil, err
	}
	if kind == caddyFormat {
		out, err := w.passthrough(ps)
		return out, nil, err
	}
	f, err := w.proxy(ps)
	if err != nil {
		return nil, nil, err
	}
	if err := w.validate(&f.cfg); err != nil {
		return nil, nil, err
	}
	return f.caddyConfig(), w.warnings(f), nil
}

// parse reads exactly one YAML document.
func parse(file string, body []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(body))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Line: 1, Err: errf(ErrEmpty, "(the input is empty)")}
		}
		return nil, syntaxError(file, body, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		line, col := next.Line, next.Column
		if lines := bytes.Count(body, []byte("\n")) + 1; line > lines {
			line, col = lines, 0
		}
		return nil, &Error{File: file, Line: max(line, 1), Column: col,
			Err: errf(ErrEmpty, "(a second document starts here; put the config in one)")}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(file, body, err)
	}
	return &doc, nil
}
