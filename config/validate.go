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

func (e *Error) Error() string { return e.Path + ": " + e.Err.Error() }

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
		if len(r.Backends) == 0 && len(c.Backends) == 0 {
			return errAt(p+".backends", "none: set backends on the route or at the top level")
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
	if r.Timeout == 0 {
		r.Timeout = top.Timeout
	}
	if len(r.Backends) == 0 {
		r.Backends = top.Backends
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
	return r
}

func (s *Section) validate(p string) error {
	if s.Timeout < 0 {
		return errAt(p+"timeout", "%v: must not be negative", time.Duration(s.Timeout))
	}
	if err := validateBackends(p+"backends", s.Backends); err != nil {
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

func validateBackends(p string, bs []Backend) error {
	seen := make(map[string]int, len(bs))
	total := 0
	for i, b := range bs {
		bp := p + "[" + strconv.Itoa(i) + "]"
		u, err := backend.Parse(b.URL)
		if err != nil {
			return &Error{Path: bp + ".url", Err: err}
		}
		if j, dup := seen[u.String()]; dup {
			return errAt(bp+".url", "%q: duplicate of %s[%d]", b.URL, p, j)
		}
		seen[u.String()] = i
		w := b.WeightOrDefault()
		if w < 0 {
			return errAt(bp+".weight", "%d: must be 0 or more", w)
		}
		total += w
	}
	if len(bs) > 0 && total == 0 {
		return errAt(p, "every weight is 0: no backend could take a request")
	}
	return nil
}

func (lb *LoadBalancer) validate(p string) error {
	if lb == nil {
		return nil
	}
	a := lb.AlgorithmOrDefault()
	if names := balancer.Names(); !slices.Contains(names, a) {
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
	return nil
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
		return libError(p, h, err)
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
		return libError(p, b, err)
	}
	return nil
}

func (r *RateLimit) validate(p string) error {
	if r == nil {
		return nil
	}
	if !(r.RequestsPerSecond > 0) {
		return errAt(p+".requests_per_second", "%v: must be more than 0", r.RequestsPerSecond)
	}
	if r.Burst < 1 {
		return errAt(p+".burst", "%d: must be at least 1", r.Burst)
	}
	if err := nonNegInt(p, "max_keys", r.MaxKeys); err != nil {
		return err
	}
	if r.Key != "" && r.Global {
		return errAt(p+".key", "%q: a global limit has no key", r.Key)
	}
	if r.IPv6Prefix < 0 || r.IPv6Prefix > 128 {
		return errAt(p+".ipv6_prefix", "%d: must be between 1 and 128 (default 64)", r.IPv6Prefix)
	}
	if r.IPv6Prefix != 0 && (r.Key != "" || r.Global) {
		return errAt(p+".ipv6_prefix", "%d: applies only to the default key, the client IP; unset key and global", r.IPv6Prefix)
	}
	if err := validatePlaceholders(r.Key); err != nil {
		return &Error{Path: p + ".key", Err: err}
	}
	if err := r.Settings().Validate(); err != nil {
		return libError(p, r, err)
	}
	switch r.Store {
	case "", "local":
		if r.Redis != nil {
			return errAt(p+".redis", "set, but store is %q: set store to redis", r.StoreOrDefault())
		}
	case "redis":
		if r.Redis == nil || r.Redis.Address == "" {
			return errAt(p+".redis.address", "required with store redis")
		}
		rp := p + ".redis"
		if err := firstErr(
			nonNegInt(rp, "db", r.Redis.DB),
			nonNegDur(rp, "dial_timeout", time.Duration(r.Redis.DialTimeout)),
			nonNegDur(rp, "timeout", time.Duration(r.Redis.Timeout)),
			nonNegInt(rp, "lease_size", r.Redis.LeaseSize),
		); err != nil {
			return err
		}
		switch r.Redis.FailurePolicy {
		case "", "fail_open", "fail_closed":
		default:
			return errAt(rp+".failure_policy", "%q: must be fail_open or fail_closed", r.Redis.FailurePolicy)
		}
	default:
		return errAt(p+".store", "%q: must be local or redis", r.Store)
	}
	return nil
}

// StoreOrDefault returns the configured store, local when unset.
func (r *RateLimit) StoreOrDefault() string {
	if r.Store == "" {
		return "local"
	}
	return r.Store
}

// validatePlaceholders checks that every `{` in a placeholder expression is
// closed and that no placeholder is empty.
func validatePlaceholders(s string) error {
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			if depth > 0 {
				return fmt.Errorf("%q: nested { at offset %d", s, i)
			}
			depth, start = 1, i
		case '}':
			if depth == 0 {
				return fmt.Errorf("%q: } without { at offset %d", s, i)
			}
			if i == start+1 {
				return fmt.Errorf("%q: empty placeholder at offset %d", s, start)
			}
			depth = 0
		}
	}
	if depth > 0 {
		return fmt.Errorf("%q: unclosed { at offset %d", s, start)
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
	); err != nil {
		return err
	}
	s := c.Settings()
	if err := s.Validate(); err != nil {
		return libError(p, c, err)
	}
	return nil
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
	return firstErr(
		nonNegDur(p, "backoff", time.Duration(r.Backoff)),
		fraction(p, "budget", r.Budget),
	)
}

// libError places an error from a library's own settings validation at the
// key it is about. The libraries name the field by its config key right
// after their "invalid … settings:" prefix; when that word is a JSON key of
// the section, the error's path ends in it (so a YAML error points at the
// key's line), else at the section.
func libError(p string, section any, err error) *Error {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, ": "); ok {
		word, _, _ := strings.Cut(rest, " ")
		t := reflect.TypeOf(section)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name == word {
				return &Error{Path: p + "." + name, Err: err}
			}
		}
	}
	return &Error{Path: p, Err: err}
}
