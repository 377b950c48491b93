package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
	"github.com/caddy-smartproxy/smartproxy/health"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

// Error is a validation error at one key. Path names the key the way the
// JSON and YAML spell it, e.g. `routes[1].backends[0].weight`, so a front end
// can map it back to a line of its own input.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

// Unwrap lets errors.Is find ErrInvalid and the cause.
func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.Err} }

func errAt(path string, format string, args ...any) *Error {
	return &Error{Path: path, Err: fmt.Errorf(format, args...)}
}

// Validate checks the whole configuration and returns the first problem
// as an *Error naming its key and the bad value. It never modifies c.
func (c *Config) Validate() error {
	if err := c.Section.validate(""); err != nil {
		return err
	}
	if err := c.AdminState.validate("admin_state"); err != nil {
		return err
	}
	if err := checkGRPCSchemes("", c.Section, c.Section); err != nil {
		return err
	}
	if err := validateTLSUse("", c.Section, c.Section); err != nil {
		return err
	}
	if err := checkStickyCache("", c.Section, c.Section); err != nil {
		return err
	}
	seen := map[string]int{}
	for i, r := range c.Routes {
		p := "routes[" + strconv.Itoa(i) + "]"
		if err := validateHost(r.Host); err != nil {
			return &Error{Path: p + ".host", Err: err}
		}
		if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
			return errAt(p+".path", "%q: must start with /", r.Path)
		}
		k := strings.ToLower(r.Host) + " " + canonicalPrefix(r.Path)
		if j, dup := seen[k]; dup {
			return errAt(p, "host %q path %q: same match as routes[%d]", r.Host, r.Path, j)
		}
		seen[k] = i
		if err := r.Section.validate(p + "."); err != nil {
			return err
		}
		if len(r.Backends) == 0 && r.Discovery == nil && len(c.Backends) == 0 && c.Discovery == nil {
			return errAt(p+".backends", "none: set backends on the route or at the top level")
		}
		if err := checkGRPCSchemes(p+".", r.Section, c.Route(i)); err != nil {
			return err
		}
		if err := validateTLSUse(p+".", r.Section, c.Route(i)); err != nil {
			return err
		}
		if err := checkStickyCache(p+".", r.Section, c.Route(i)); err != nil {
			return err
		}
	}
	return nil
}

func canonicalPrefix(p string) string {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "/"
	}
	return p
}

func validateHost(h string) error {
	if h == "" {
		return nil
	}
	if strings.ContainsAny(h, "/ \t?#@") {
		return fmt.Errorf("%q: not a host name", h)
	}
	if i := strings.LastIndex(h, "*"); i >= 0 {
		if i != 0 || !strings.HasPrefix(h, "*.") || len(h) < 3 {
			return fmt.Errorf("%q: a wildcard must be the whole first label, as in *.example.com", h)
		}
	}
	return nil
}

// Route returns route i's effective section: the route's own sections, and
// the top level's for each one it leaves unset.
func (c *Config) Route(i int) Section {
	r := c.Routes[i].Section
	top := c.Section
	inheritTimeouts(&r, top)
	if len(r.Backends) == 0 && r.Discovery == nil {
		r.Backends, r.Discovery = top.Backends, top.Discovery
	}
	if r.LoadBalancer == nil {
		r.LoadBalancer = top.LoadBalancer
	}
	if r.HealthCheck == nil {
		r.HealthCheck = top.HealthCheck
	}
	if r.CircuitBreaker == nil {
		r.CircuitBreaker = top.CircuitBreaker
	}
	if r.RateLimit == nil {
		r.RateLimit = top.RateLimit
	}
	if r.Cache == nil {
		r.Cache = top.Cache
	}
	if r.Retries == nil {
		r.Retries = top.Retries
	}
	if r.StreamCloseDelay == 0 {
		r.StreamCloseDelay = top.StreamCloseDelay
	}
	inheritShaping(&r, top)
	return r
}

func (s *Section) validate(p string) error {
	if err := validateDurations(reflect.ValueOf(s).Elem(), strings.TrimSuffix(p, ".")); err != nil {
		return err
	}
	if s.Timeout < 0 {
		return errAt(p+"timeout", "%v: must not be negative", time.Duration(s.Timeout))
	}
	if err := s.validateTimeouts(p); err != nil {
		return err
	}
	if err := s.validateShaping(p); err != nil {
		return err
	}
	if err := validateBackends(p+"backends", s.Backends, s.Discovery != nil); err != nil {
		return err
	}
	if err := s.validateCaps(p); err != nil {
		return err
	}
	if err := s.Discovery.validate(p+"discovery", s.Backends); err != nil {
		return err
	}
	if err := s.LoadBalancer.validate(p + "load_balancer"); err != nil {
		return err
	}
	if err := s.HealthCheck.validate(p + "health_check"); err != nil {
		return err
	}
	if err := s.CircuitBreaker.validate(p + "circuit_breaker"); err != nil {
		return err
	}
	if err := s.RateLimit.validate(p + "rate_limit"); err != nil {
		return err
	}
	if err := s.Cache.validate(p + "cache"); err != nil {
		return err
	}
	return s.Retries.validate(p + "retries")
}

// validateBackends checks a section's backends; discovered says the
// section also takes backends from discovery (which are never backups).
func validateBackends(p string, bs []Backend, discovered bool) error {
	seen := make(map[string]int, len(bs))
	total, backups := 0, 0
	scheme := ""
	for i, b := range bs {
		bp := p + "[" + strconv.Itoa(i) + "]"
		u, err := backend.Parse(b.URL)
		if err != nil {
			return &Error{Path: bp + ".url", Err: err}
		}
		// One transport serves a route, and it speaks one protocol.
		if i == 0 {
			scheme = u.Scheme
		} else if u.Scheme != scheme {
			return errAt(bp+".url", "%q: one route's backends must share a scheme (%s[0] is %s, this is %s)", b.URL, p, scheme, u.Scheme)
		}
		if j, dup := seen[u.String()]; dup {
			return errAt(bp+".url", "%q: duplicate of %s[%d]", b.URL, p, j)
		}
		seen[u.String()] = i
		w := b.WeightOrDefault()
		if err := backend.CheckWeight(w); err != nil {
			return errAt(bp+".weight", "%d: %v", w, err)
		}
		total += w
		if b.Backup {
			backups++
		}
	}
	if len(bs) > 0 && total == 0 {
		return errAt(p, "every weight is 0: no backend could take a request")
	}
	if len(bs) > 0 && backups == len(bs) && !discovered {
		return errAt(p+"["+strconv.Itoa(len(bs)-1)+"].backup",
			"true: every backend of the route is a backup, so none would ever be used before another failed; make at least one a primary")
	}
	return nil
}

func (lb *LoadBalancer) validate(p string) error {
	if lb == nil {
		return nil
	}
	a := lb.AlgorithmOrDefault()
	if names := balancer.Names(); !slices.Contains(names, a) {
		if s := Nearest(a, names); s != "" {
			return errAt(p+".algorithm", "unknown algorithm %q (did you mean %q?)", a, s)
		}
		return errAt(p+".algorithm", "unknown algorithm %q (known: %s)", a, strings.Join(names, ", "))
	}
	if a == "header_hash" && lb.HashHeader == "" {
		return errAt(p+".hash_header", "required by algorithm header_hash")
	}
	if a != "header_hash" && lb.HashHeader != "" {
		return errAt(p+".hash_header", "%q: only used by algorithm header_hash, not %s", lb.HashHeader, a)
	}
	if lb.SlowStart < 0 {
		return errAt(p+".slow_start", "%v: must not be negative", time.Duration(lb.SlowStart))
	}
	if lb.PanicThreshold < 0 || lb.PanicThreshold > 1 {
		return errAt(p+".panic_threshold", "%v: must be between 0 and 1", lb.PanicThreshold)
	}
	return firstErr(
		nonNegInt(p, "max_requests", lb.MaxRequests),
		lb.Queue.validate(p+".queue"),
		lb.Sticky.validate(p+".sticky"),
	)
}

func nonNegInt(p, key string, v int) error {
	if v < 0 {
		return errAt(p+"."+key, "%d: must not be negative", v)
	}
	return nil
}

func nonNegDur(p, key string, v time.Duration) error {
	if v < 0 {
		return errAt(p+"."+key, "%v: must not be negative", v)
	}
	return nil
}

func fraction(p, key string, v float64) error {
	if v < 0 || v > 1 {
		return errAt(p+"."+key, "%v: must be between 0 and 1", v)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (h *HealthCheck) validate(p string) error {
	if h == nil {
		return nil
	}
	if err := firstErr(
		nonNegDur(p, "interval", time.Duration(h.Interval)),
		nonNegDur(p, "timeout", time.Duration(h.Timeout)),
		nonNegInt(p, "healthy_threshold", h.HealthyThreshold),
		nonNegInt(p, "unhealthy_threshold", h.UnhealthyThreshold),
		nonNegInt(p, "passive_failures", h.PassiveFailures),
		nonNegDur(p, "passive_cooldown", time.Duration(h.PassiveCooldown)),
		fraction(p, "jitter", h.Jitter),
	); err != nil {
		return err
	}
	if h.Interval > 0 && h.Timeout > h.Interval {
		return errAt(p+".timeout", "%v: must not exceed interval %v",
			time.Duration(h.Timeout), time.Duration(h.Interval))
	}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		return errAt(p+".path", "%q: must start with /", h.Path)
	}
	if h.Method != "" && !isToken(h.Method) {
		return errAt(p+".method", "%q: not an HTTP method", h.Method)
	}
	if h.ExpectStatus != "" {
		if _, err := health.ParseStatus(h.ExpectStatus); err != nil {
			return &Error{Path: p + ".expect_status", Err: err}
		}
	}
	if h.ExpectBody != "" {
		if _, err := regexp.Compile(h.ExpectBody); err != nil {
			return errAt(p+".expect_body", "%q: %v", h.ExpectBody, err)
		}
	}
	switch h.Type {
	case "", "http":
		if h.Service != "" {
			return errAt(p+".service", "%q: only used by type grpc", h.Service)
		}
	case "grpc":
	default:
		return errAt(p+".type", "%q: must be http or grpc", h.Type)
	}
	switch h.InitialState {
	case "", "healthy", "unhealthy":
	default:
		return errAt(p+".initial_state", "%q: must be healthy or unhealthy", h.InitialState)
	}
	for i, st := range h.UnhealthyStatuses {
		if st < 100 || st > 599 {
			return errAt(p+".unhealthy_statuses["+strconv.Itoa(i)+"]", "%d: not an HTTP status", st)
		}
	}
	if err := h.Settings().Validate(); err != nil {
		return libError(p, h, err, map[string]string{"passive_unhealthy_statuses": "unhealthy_statuses"})
	}
	return nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

func (b *CircuitBreaker) validate(p string) error {
	if b == nil {
		return nil
	}
	if err := firstErr(
		nonNegInt(p, "failure_threshold", b.FailureThreshold),
		fraction(p, "error_ratio", b.ErrorRatio),
		nonNegDur(p, "window", time.Duration(b.Window)),
		nonNegInt(p, "min_requests", b.MinRequests),
		nonNegDur(p, "latency_threshold", time.Duration(b.LatencyThreshold)),
		fraction(p, "latency_quantile", b.LatencyQuantile),
		nonNegDur(p, "base_backoff", time.Duration(b.BaseBackoff)),
		nonNegDur(p, "max_backoff", time.Duration(b.MaxBackoff)),
		fraction(p, "jitter", b.Jitter),
		nonNegInt(p, "half_open_requests", b.HalfOpenRequests),
		nonNegInt(p, "success_threshold", b.SuccessThreshold),
	); err != nil {
		return err
	}
	if b.MaxBackoff > 0 && b.BaseBackoff > b.MaxBackoff {
		return errAt(p+".max_backoff", "%v: must not be less than base_backoff %v",
			time.Duration(b.MaxBackoff), time.Duration(b.BaseBackoff))
	}
	if err := b.Settings().Validate(); err != nil {
		return libError(p, b, err, nil)
	}
	return nil
}

func (c *Cache) validate(p string) error {
	if c == nil {
		return nil
	}
	if c.MaxBytes < 0 {
		return errAt(p+".max_bytes", "%d: must not be negative", c.MaxBytes)
	}
	if c.MaxEntryBytes < 0 {
		return errAt(p+".max_entry_bytes", "%d: must not be negative", c.MaxEntryBytes)
	}
	if c.MaxBytes > 0 && c.MaxEntryBytes > c.MaxBytes {
		return errAt(p+".max_entry_bytes", "%d: larger than max_bytes %d", c.MaxEntryBytes, c.MaxBytes)
	}
	if err := firstErr(
		nonNegInt(p, "max_size", c.MaxSize),
		nonNegInt(p, "max_variants", c.MaxVariants),
		nonNegDur(p, "ttl", time.Duration(c.TTL)),
		nonNegDur(p, "max_ttl", time.Duration(c.MaxTTL)),
		nonNegDur(p, "stale_if_error", time.Duration(c.StaleIfError)),
		nonNegDur(p, "coalesce_timeout", time.Duration(c.CoalesceTimeout)),
		nonNegDur(p, "stale_while_revalidate", time.Duration(c.StaleWhileRevalidate)),
	); err != nil {
		return err
	}
	if h := c.Heuristic; h != nil {
		if !(h.Fraction > 0 && h.Fraction <= 1) {
			return errAt(p+".heuristic.fraction", "%v: must be above 0 and at most 1", h.Fraction)
		}
		if err := nonNegDur(p+".heuristic", "max", time.Duration(h.Max)); err != nil {
			return err
		}
	}
	s := c.Settings()
	if err := s.Validate(); err != nil {
		return libError(p, c, err, nil)
	}
	return c.Shared.validate(p + ".shared")
}

func (r *Retries) validate(p string) error {
	if r == nil {
		return nil
	}
	if r.Count != nil && *r.Count < 0 {
		return errAt(p+".count", "%d: must not be negative", *r.Count)
	}
	if r.MaxBodyBytes < 0 {
		return errAt(p+".max_body_bytes", "%d: must not be negative", r.MaxBodyBytes)
	}
	for i, st := range r.OnStatus {
		if st != 429 && (st < 500 || st > 599) {
			return errAt(p+".on_status["+strconv.Itoa(i)+"]", "%d: only 429 and 500-599 answers can be retried", st)
		}
	}
	for i, m := range r.Methods {
		if !isToken(m) || strings.ToUpper(m) != m {
			return errAt(p+".methods["+strconv.Itoa(i)+"]", "%q: not an HTTP method (methods are upper case, e.g. POST)", m)
		}
		if m == "CONNECT" {
			return errAt(p+".methods["+strconv.Itoa(i)+"]", "%q: CONNECT is never proxied", m)
		}
	}
	return firstErr(
		nonNegDur(p, "backoff", time.Duration(r.Backoff)),
		fraction(p, "budget", r.Budget),
	)
}

// libError places an error from a library's own settings validation at the
// key it is about: the library names the field in a *fielderr.Error, by
// its config key or by a name that rename maps to the key. A field that
// is no key of the section (a library-only setting) places the error at
// the section.
func libError(p string, section any, err error, rename map[string]string) *Error {
	var fe *fielderr.Error
	if !errors.As(err, &fe) {
		return &Error{Path: p, Err: err}
	}
	name := fe.Field
	if k, ok := rename[name]; ok {
		name = k
	}
	t := reflect.TypeOf(section)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if _, ok := LookupField(Fields(t), name); ok {
		return &Error{Path: p + "." + name, Err: err}
	}
	return &Error{Path: p, Err: err}
}

func (d *Discovery) validate(p string, backends []Backend) error {
	if d == nil {
		return nil
	}
	if d.DNS == nil {
		return errAt(p+".dns", "required: discovery has no other source")
	}
	c := d.DNS.Settings()
	if err := c.Validate(); err != nil {
		var fe *fielderr.Error
		if errors.As(err, &fe) {
			return &Error{Path: p + ".dns." + fe.Field, Err: err}
		}
		return &Error{Path: p + ".dns", Err: err}
	}
	scheme := c.Scheme
	if scheme == "" {
		scheme = "http"
	}
	if len(backends) > 0 {
		if u, err := backend.Parse(backends[0].URL); err == nil && u.Scheme != scheme {
			return errAt(p+".dns.scheme", "%q: one route's backends must share a scheme (backends[0] is %s)", scheme, u.Scheme)
		}
	}
	return nil
}

// checkGRPCSchemes refuses gRPC health checks of backends that cannot
// speak HTTP/2: gRPC needs h2c:// or https://. own is the section as
// written (to place the error), eff the section with what it inherits.
func checkGRPCSchemes(p string, own, eff Section) error {
	if eff.HealthCheck == nil || eff.HealthCheck.Type != "grpc" {
		return nil
	}
	var schemes []string
	for _, b := range eff.Backends {
		if u, err := backend.Parse(b.URL); err == nil {
			schemes = append(schemes, u.Scheme)
		}
	}
	if eff.Discovery != nil && eff.Discovery.DNS != nil {
		s := eff.Discovery.DNS.Scheme
		if s == "" {
			s = "http"
		}
		schemes = append(schemes, s)
	}
	for _, s := range schemes {
		if s == "http" {
			key := p + "backends"
			if own.HealthCheck != nil || len(own.Backends) == 0 && own.Discovery == nil {
				key = p + "health_check.type"
			}
			return errAt(key, "grpc health checks need h2c:// or https:// backends (gRPC is HTTP/2), not http://")
		}
	}
	return nil
}
