package health

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
)

// ErrInvalidSettings is wrapped by every error that Settings.Validate and
// New return for a bad setting; the message names the field and the value.
var ErrInvalidSettings = errors.New("invalid health settings")

// Defaults for the zero fields of Settings.
const (
	DefaultInterval           = 30 * time.Second
	DefaultTimeout            = 10 * time.Second
	DefaultPath               = "/health"
	DefaultMethod             = http.MethodGet
	DefaultExpectStatus       = "2xx"
	DefaultMaxBody            = 64 << 10
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 3
	DefaultJitter             = 0.1
	DefaultPassiveCooldown    = 30 * time.Second
)

// The built-in check types of Settings.Type.
const (
	TypeHTTP = ""
	TypeGRPC = "grpc"
)

// MaxJitter bounds Settings.Jitter: beyond half an interval the checks would
// stop looking periodic.
const MaxJitter = 0.5

// Settings configure a Checker. Every zero field takes the documented
// default, so Settings{} is a working configuration: GET /health every 30s
// (give or take 10%), 2xx expected within 10s.
type Settings struct {
	// Interval is the time between two active checks of one target, before
	// jitter. Default: 30s.
	Interval time.Duration
	// Timeout bounds one active check, connect to last body byte; a check
	// that runs out counts as a failure. It must not exceed Interval,
	// or checks of one target would pile up. Default: 10s, or Interval/2 if
	// that is shorter, so a short Interval alone is a valid config.
	Timeout time.Duration
	// Path is the request path (and optional query) probed on each target's
	// scheme and host; a path prefix in the target's URL is replaced, not
	// prepended. Default: "/health".
	Path string
	// Method is the probe's HTTP method; any valid method token is allowed
	// (HEAD saves the backend sending a body). Default: GET.
	Method string
	// ExpectStatus is the status a healthy backend answers: a code ("200"),
	// a class ("2xx") or a range ("200-399"); see ParseStatus. Redirects are
	// not followed, so a 3xx is judged by this too. Default: "2xx".
	ExpectStatus string
	// ExpectBody, if set, is a regular expression (Go syntax) that must
	// match the first MaxBody bytes of the response body. Default: none, and
	// the body is not read beyond what keep-alive needs.
	ExpectBody string
	// MaxBody is how many body bytes are read for ExpectBody, so a backend
	// answering a huge page cannot make the checker buffer it. Default: 64 KiB.
	MaxBody int64
	// Headers are added to every probe. A "Host" entry sets the Host header,
	// for backends that route on it.
	Headers http.Header
	// Type is the built-in check: TypeHTTP ("", "http": a request for Path
	// judged by ExpectStatus and ExpectBody) or TypeGRPC ("grpc": the gRPC
	// health protocol, grpc.health.v1.Health/Check; Path, Method,
	// ExpectStatus and ExpectBody are then unused). Both speak h2c (HTTP/2
	// with prior knowledge) to h2c:// targets; a grpc check needs h2c://
	// or https:// targets. Default: http.
	Type string
	// Service is the service a grpc check asks about; empty asks about the
	// server as a whole. Only with TypeGRPC. Default: "".
	Service string
	// HealthyThreshold is how many consecutive passing checks bring an
	// unhealthy backend back ("rise"). Default: 2, as HAProxy: one lucky
	// probe of a backend that is still restarting does not send it traffic.
	HealthyThreshold int
	// UnhealthyThreshold is how many consecutive failed checks take a
	// healthy backend out ("fall"). Default: 3, as HAProxy: a single lost
	// probe does not drop a good backend.
	UnhealthyThreshold int
	// Jitter spreads checks in time, as a fraction of Interval: each target's
	// first check comes after a random delay of up to Jitter*Interval, and
	// each later one after Interval, plus or minus up to Jitter*Interval, so
	// the checks of many targets (and of many proxies) never fall into step.
	// It must be at most 0.5. Default: 0.1; there is no way to turn it off,
	// because checks in lockstep are never wanted.
	Jitter float64
	// InitialState is the state of a target whose Record the Checker makes
	// itself (a target given a Record keeps that Record's state). Default:
	// Healthy, so a proxy that has just started serves traffic at once
	// instead of answering 503 until the first checks have passed.
	InitialState State
	// DisableActive turns active checks off, for a config that wants only
	// passive checks: the Checker then starts no goroutines, and a backend
	// that passive checks took out comes back after PassiveCooldown.
	DisableActive bool
	// PassiveFailures is how many consecutive failed real requests (see
	// Record.ReportPassive) take a healthy backend out at once, without
	// waiting for the active checks. Default: 0, passive checks off.
	PassiveFailures int
	// PassiveUnhealthyStatuses are response statuses that count as a failed
	// request for passive checks, e.g. 502, 503, 504; a request that got no
	// response at all always counts. Default: none.
	PassiveUnhealthyStatuses []int
	// PassiveCooldown is how long a backend that passive checks took out
	// stays out when active checks are off. With active checks on it is not
	// used: the backend comes back after HealthyThreshold passing checks.
	// Default: 30s.
	PassiveCooldown time.Duration
}

// compiled is Settings with defaults applied and every string parsed, the
// form a Checker runs on.
type compiled struct {
	Settings
	status    StatusRange
	body      *regexp.Regexp
	path      string // Path without its query
	rawQuery  string
	host      string // from Headers["Host"], set as Request.Host
	badStatus statusSet
}

// Validate reports every bad field, each error naming the field and value
// and wrapping ErrInvalidSettings. It does not change s.
func (s Settings) Validate() error {
	_, err := s.compile()
	return err
}

// withDefaults returns s with its zero fields set to their defaults.
func (s Settings) withDefaults() Settings {
	s.Interval = cmp.Or(s.Interval, DefaultInterval)
	if s.Timeout == 0 && s.Interval > 0 {
		s.Timeout = min(DefaultTimeout, s.Interval/2)
	}
	s.Path = cmp.Or(s.Path, DefaultPath)
	s.Method = cmp.Or(s.Method, DefaultMethod)
	s.ExpectStatus = cmp.Or(s.ExpectStatus, DefaultExpectStatus)
	s.MaxBody = cmp.Or(s.MaxBody, DefaultMaxBody)
	s.HealthyThreshold = cmp.Or(s.HealthyThreshold, DefaultHealthyThreshold)
	s.UnhealthyThreshold = cmp.Or(s.UnhealthyThreshold, DefaultUnhealthyThreshold)
	s.Jitter = cmp.Or(s.Jitter, DefaultJitter)
	s.PassiveCooldown = cmp.Or(s.PassiveCooldown, DefaultPassiveCooldown)
	return s
}

// compile applies defaults, checks every field and parses the strings.
func (s Settings) compile() (*compiled, error) {
	c := &compiled{Settings: s.withDefaults()}
	d := &c.Settings
	var errs []error
	bad := func(field string, value any, why string) {
		errs = append(errs, fielderr.New(field, value, fmt.Errorf("%w: %s %v: %s", ErrInvalidSettings, field, value, why)))
	}
	if d.Interval < 0 {
		bad("interval", d.Interval, "must be positive")
	}
	if d.Timeout < 0 {
		bad("timeout", d.Timeout, "must be positive")
	} else if d.Interval > 0 && d.Timeout > d.Interval {
		bad("timeout", d.Timeout, fmt.Sprintf("must not exceed interval %v", d.Interval))
	}
	if u, err := url.ParseRequestURI(d.Path); err != nil || !strings.HasPrefix(d.Path, "/") {
		bad("path", fmt.Sprintf("%q", d.Path), "must be an absolute path like /health")
	} else {
		c.path, c.rawQuery = u.Path, u.RawQuery
	}
	if !isToken(d.Method) {
		bad("method", fmt.Sprintf("%q", d.Method), "is not a valid HTTP method")
	}
	if r, err := ParseStatus(d.ExpectStatus); err != nil {
		errs = append(errs, fielderr.New("expect_status", d.ExpectStatus, fmt.Errorf("%w: expect_status: %w", ErrInvalidSettings, err)))
	} else {
		c.status = r
	}
	if d.ExpectBody != "" {
		if re, err := regexp.Compile(d.ExpectBody); err != nil {
			bad("expect_body", fmt.Sprintf("%q", d.ExpectBody), err.Error())
		} else {
			c.body = re
		}
	}
	if d.MaxBody < 0 {
		bad("max_body", d.MaxBody, "must be positive")
	}
	for _, name := range slices.Sorted(maps.Keys(d.Headers)) {
		values := d.Headers[name]
		if !isToken(name) {
			bad("header name", fmt.Sprintf("%q", name), "is not a valid header name")
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				bad("header "+name, fmt.Sprintf("%q", v), "must not contain CR, LF or NUL")
			}
		}
	}
	for name, values := range d.Headers {
		if strings.EqualFold(name, "Host") && len(values) > 0 {
			c.host = values[0]
		}
	}
	switch d.Type {
	case TypeHTTP, "http":
		d.Type = TypeHTTP
		if d.Service != "" {
			bad("service", fmt.Sprintf("%q", d.Service), "only used by type grpc")
		}
	case TypeGRPC:
		if len(d.Service) > maxService || strings.ContainsAny(d.Service, "\x00\r\n") {
			bad("service", fmt.Sprintf("%.40q", d.Service), fmt.Sprintf("must be at most %d bytes without CR, LF or NUL", maxService))
		}
	default:
		bad("type", fmt.Sprintf("%q", d.Type), "must be http or grpc")
	}
	if d.HealthyThreshold < 0 {
		bad("healthy_threshold", d.HealthyThreshold, "must be 1 or more")
	}
	if d.UnhealthyThreshold < 0 {
		bad("unhealthy_threshold", d.UnhealthyThreshold, "must be 1 or more")
	}
	if d.Jitter < 0 || d.Jitter > MaxJitter || d.Jitter != d.Jitter {
		bad("jitter", d.Jitter, fmt.Sprintf("must be between 0 and %v", MaxJitter))
	}
	switch {
	case d.InitialState != Healthy && d.InitialState != Unhealthy:
		bad("initial_state", d.InitialState, "must be healthy or unhealthy")
	case d.InitialState == Unhealthy && d.DisableActive:
		bad("initial_state", d.InitialState, "needs active checks, or no backend would ever become healthy")
	}
	if d.PassiveFailures < 0 {
		bad("passive_failures", d.PassiveFailures, "must be 0 (off) or more")
	}
	for _, code := range d.PassiveUnhealthyStatuses {
		if code < 100 || code > 599 {
			bad("passive_unhealthy_statuses", code, "is not an HTTP status (100-599)")
			continue
		}
		c.badStatus.add(code)
	}
	if d.PassiveCooldown < 0 {
		bad("passive_cooldown", d.PassiveCooldown, "must be positive")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// statusSet is a bitmap of HTTP statuses 0-639: a lookup is a shift and a
// mask, with no allocation, for the passive-check hot path.
type statusSet [10]uint64

func (s *statusSet) add(code int) { s[code>>6] |= 1 << (code & 63) }

// has reports whether code is in the set; codes outside 0-639 never are.
func (s *statusSet) has(code int) bool {
	if code < 0 || code >= len(s)*64 {
		return false
	}
	return s[code>>6]&(1<<(code&63)) != 0
}

// isToken reports whether s is a non-empty RFC 9110 token, the syntax of
// method and header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
