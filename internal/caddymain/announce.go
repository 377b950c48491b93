package caddymain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// statusPath is where the admin endpoint serves the status document
// (admin.api.smartproxy).
const statusPath = "/smartproxy/status"

// announce returns the start message: which file runs and, when the
// config can be read, where it serves and where its status is. A config
// that does not adapt gets only the first line: Caddy reports the error
// right after.
func (p plan) announce() []string {
	if p.file == "" {
		return nil
	}
	name := p.file
	if p.body == nil {
		if abs, err := filepath.Abs(p.file); err == nil {
			name = abs
		}
	}
	lines := []string{"running " + name + " (" + p.why + ")"}
	body := p.body
	if body == nil {
		b, err := os.ReadFile(p.file)
		if err != nil {
			return lines
		}
		body = b
	}
	s, err := summarize(body, p.file, p.adapter)
	if err != nil {
		return lines
	}
	return append(lines, s.lines()...)
}

// summary is what the start message says about a config.
type summary struct {
	serving []string // the HTTP servers' addresses, by server name
	pages   []string // addresses of servers with a smartproxy_status handler
	admin   string   // the admin endpoint's address; "" when it is off
}

// summarize adapts body (named file) with the named adapter ("" for JSON)
// and reads the listen addresses of its HTTP servers and admin endpoint.
func summarize(body []byte, file, adapter string) (summary, error) {
	if adapter != "" {
		a := caddyconfig.GetAdapter(adapter)
		if a == nil {
			return summary{}, fmt.Errorf("unknown adapter %q", adapter)
		}
		out, _, err := a.Adapt(body, map[string]any{"filename": file})
		if err != nil {
			return summary{}, err
		}
		body = out
	}
	var cfg struct {
		Admin *struct {
			Disabled bool   `json:"disabled"`
			Listen   string `json:"listen"`
		} `json:"admin"`
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string        `json:"listen"`
					Routes json.RawMessage `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		return summary{}, err
	}
	var s summary
	switch {
	case cfg.Admin != nil && cfg.Admin.Disabled:
	case cfg.Admin != nil && cfg.Admin.Listen != "":
		s.admin = cfg.Admin.Listen
	default:
		s.admin = caddy.DefaultAdminListen
	}
	names := make([]string, 0, len(cfg.Apps.HTTP.Servers))
	for name := range cfg.Apps.HTTP.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		srv := cfg.Apps.HTTP.Servers[name]
		var routes bytes.Buffer
		hasPage := json.Compact(&routes, srv.Routes) == nil &&
			bytes.Contains(routes.Bytes(), []byte(`"handler":"smartproxy_status"`))
		for _, l := range srv.Listen {
			s.serving = append(s.serving, urlOf(l))
			if hasPage {
				s.pages = append(s.pages, urlOf(l))
			}
		}
	}
	return s, nil
}

// lines words the summary.
func (s summary) lines() []string {
	var out []string
	if len(s.serving) > 0 {
		out = append(out, "serving "+strings.Join(s.serving, ", "))
	}
	if len(s.pages) > 0 {
		out = append(out, "status page: "+strings.Join(s.pages, ", "))
	}
	if s.admin == "" {
		out = append(out, "status: none (the admin endpoint is off)")
	} else {
		out = append(out, "status: "+urlOf(s.admin)+statusPath[1:]+
			" (JSON; see README, \"Status page\", for the live page in a browser)")
	}
	return out
}

// urlOf turns a listen address into the URL a local client uses: ":8080"
// is http://localhost:8080/. Unix sockets and port ranges stay as written.
func urlOf(listen string) string {
	a, err := caddy.ParseNetworkAddress(listen)
	if err != nil || a.IsUnixNetwork() || a.StartPort != a.EndPort {
		return listen
	}
	host := a.Host
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, strconv.FormatUint(uint64(a.StartPort), 10)) + "/"
}
