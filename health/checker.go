package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// ErrInvalidTarget is wrapped by the errors New returns for a bad target.
var ErrInvalidTarget = errors.New("invalid health check target")

// Target is one backend to check.
type Target struct {
	// Name identifies the backend in Transitions, State and Status; unique
	// within a Checker.
	Name string
	// URL is the backend's base URL; the built-in check probes
	// Settings.Path on its scheme and host. It may be nil only with
	// DisableActive or a custom CheckFunc that does not need it.
	URL *url.URL
	// Record carries the backend's state over from an earlier Checker; nil
	// makes a fresh one in Settings.InitialState.
	Record *Record
	// ServerName is the TLS server name the built-in check of an https
	// target sends (SNI) and verifies the certificate against, unless the
	// client's own TLS config names one: a backend found in DNS is dialled
	// at an IP, but its certificate names the host name it was found
	// under. Default: the URL's host, as Go's client does.
	ServerName string
	// Host is the Host the built-in check sends when Settings.Headers
	// name none: a backend found in DNS is named by the name it was found
	// under, not by the address in its URL. Default: the URL's host.
	Host string
	// TLS, when set, is the TLS config of the built-in check's probes of
	// an https target in place of the client's: a backend with TLS
	// settings of its own (its CA, its client certificate) is checked
	// with them. ServerName still applies when TLS names no server. It is
	// cloned, never changed. Default: the client's.
	TLS *tls.Config
}

// CheckFunc is one active check of t: nil means it passed. ctx carries the
// check's timeout and ends when the Checker stops, and the function must
// return soon after it is done.
type CheckFunc func(ctx context.Context, t Target) error

// Logger receives the rare events worth a log line (a recovered panic),
// with slog-style key/value pairs. The default discards them.
type Logger func(msg string, fields ...any)

// Option changes how New builds a Checker.
type Option func(*options)

type options struct {
	client *http.Client
	check  CheckFunc
	log    Logger
	clock  clock
	rand   func() float64
}

// WithClient makes the built-in HTTP check use client, e.g. one whose
// transport trusts a private CA for https backends. A nil CheckRedirect is
// replaced so that redirects are still not followed. Default: a client of
// its own that opens a fresh connection for every probe, which also proves
// the backend still accepts connections. h2c targets are always asked with
// a client of the Checker's own (HTTP/2 with prior knowledge, a fresh
// connection per probe).
func WithClient(client *http.Client) Option { return func(o *options) { o.client = client } }

// WithCheck replaces the built-in HTTP check, e.g. with a TCP dial or a
// gRPC health call. Settings' HTTP fields are then unused.
func WithCheck(check CheckFunc) Option { return func(o *options) { o.check = check } }

// WithLogger sets where recovered panics are reported.
func WithLogger(log Logger) Option { return func(o *options) { o.log = log } }

// Checker runs active checks for a set of targets and tells its Observers
// of every transition of their Records. Make one with New, Subscribe, then
// Start; Stop it when its config is retired. Targets may be added and
// removed while it runs (Add, Remove), as DNS discovery needs.
type Checker struct {
	set    *compiled
	pol    *policy
	log    Logger
	clock  clock
	rand   func() float64
	check  func(context.Context, *target) error
	client *http.Client // http and https targets
	h2c    *http.Client // h2c targets
	// grpcBody is the framed HealthCheckRequest of a grpc check.
	grpcBody []byte
	builtin  bool // the check is the built-in HTTP or gRPC one

	tmu     sync.RWMutex // guards the fields below (targets.go)
	targets []*target
	byName  map[string]*target
	runCtx  context.Context // Start's; nil before Start

	observers atomic.Pointer[[]*subscription]
	subMu     sync.Mutex // serialises Subscribe and unsubscribe

	lifeMu     sync.Mutex
	started    bool
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	stopOnce   sync.Once
	detachOnce sync.Once
}

type target struct {
	Target
	probeURL string
	client   *http.Client // the built-in check's: c.client or c.h2c
	// stop ends the target's check loop, done is closed when it has
	// returned; nil until it runs (guarded by Checker.tmu).
	stop context.CancelFunc
	done chan struct{}
}

// subscription wraps an Observer so that unsubscribe can find it by
// identity even when the Observer itself is not comparable (a func).
type subscription struct{ o Observer }

// New checks s and the targets and builds a Checker; nothing runs until
// Start. Errors wrap ErrInvalidSettings or ErrInvalidTarget.
func New(s Settings, targets []Target, opts ...Option) (*Checker, error) {
	set, err := s.compile()
	if err != nil {
		return nil, err
	}
	o := options{clock: realClock{}, rand: rand.Float64}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = func(string, ...any) {}
	}
	c := &Checker{
		set:    set,
		log:    o.log,
		clock:  o.clock,
		rand:   o.rand,
		byName: make(map[string]*target, len(targets)),
		pol: &policy{
			rise:            set.HealthyThreshold,
			fall:            set.UnhealthyThreshold,
			passiveFailures: int64(set.PassiveFailures),
			badStatus:       set.badStatus,
			active:          !set.DisableActive,
			cooldown:        set.PassiveCooldown,
			clock:           o.clock,
		},
	}
	builtin := o.check == nil && !set.DisableActive
	c.builtin = builtin
	if builtin {
		c.client = newClient(o.client)
		c.h2c = newH2CClient()
		c.check = c.httpCheck
		if set.Type == TypeGRPC {
			c.check = c.grpcCheck
			c.grpcBody = encodeHealthRequest(set.Service)
		}
	} else if !set.DisableActive {
		c.check = func(ctx context.Context, t *target) error { return o.check(ctx, t.Target) }
	}
	var errs []error
	for i, t := range targets {
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%w: target %d has no name", ErrInvalidTarget, i))
			continue
		}
		tt, err := c.newTarget(t)
		if err == nil {
			err = c.insertLocked(tt)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// probeTarget returns the URL the built-in check asks of a target at u and
// the client it asks with: h2c targets are asked over h2c (HTTP/2 with
// prior knowledge, as the proxy speaks to them), so a backend that only
// speaks HTTP/2 is not marked down.
func (c *Checker) probeTarget(t Target) (string, *http.Client, error) {
	u := t.URL
	if u == nil || u.Host == "" {
		return "", nil, fmt.Errorf("url %v: want a host", u)
	}
	grpc := c.set.Type == TypeGRPC
	client := c.client
	switch {
	case u.Scheme == "h2c":
		client = c.h2c
	case u.Scheme == "https":
		client = targetClient(client, t)
	case u.Scheme == "http" && !grpc:
	case grpc:
		return "", nil, fmt.Errorf("url %v: a grpc check needs h2c:// or https:// (gRPC is HTTP/2)", u)
	default:
		return "", nil, fmt.Errorf("url %v: want http://, https:// or h2c://", u)
	}
	p := url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: c.set.path, RawQuery: c.set.rawQuery}
	if grpc {
		p.Path, p.RawQuery = grpcHealthPath, ""
	}
	if p.Scheme == "h2c" {
		p.Scheme = "http" // the client's protocols make it h2c
	}
	return p.String(), client, nil
}

// Subscribe adds o to the Observers told of every transition from now on,
// and returns the function that removes it again (safe to call more than
// once, and from Observe). A transition being delivered while unsubscribe
// runs may still reach o.
func (c *Checker) Subscribe(o Observer) (unsubscribe func()) {
	sub := &subscription{o: o}
	c.subMu.Lock()
	defer c.subMu.Unlock()
	var list []*subscription
	if old := c.observers.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, sub)
	c.observers.Store(&list)
	return func() {
		c.subMu.Lock()
		defer c.subMu.Unlock()
		old := c.observers.Load()
		var kept []*subscription
		for _, s := range *old {
			if s != sub {
				kept = append(kept, s)
			}
		}
		c.observers.Store(&kept)
	}
}

// notify tells t to every Observer, each shielded from the others' panics.
func (c *Checker) notify(t Transition) {
	list := c.observers.Load()
	if list == nil {
		return
	}
	for _, s := range *list {
		c.observe(s.o, t)
	}
}

func (c *Checker) observe(o Observer, t Transition) {
	defer func() {
		if v := recover(); v != nil {
			c.log("health: observer panicked", "target", t.Target, "panic", v)
		}
	}()
	o.Observe(t)
}

// Start attaches the targets' Records to c (from now on ReportPassive
// follows c's settings and transitions reach c's Observers) and, unless
// active checks are off, starts one goroutine per target. Everything stops
// when ctx is done or Stop is called. Calls after the first do nothing.
//
// During a reload the old and the new Checker may both run for a moment;
// a Record they share is then probed by both, which only speeds its streaks
// up until the old one is stopped.
func (c *Checker) Start(ctx context.Context) {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.started {
		return
	}
	c.started = true
	ctx, c.cancel = context.WithCancel(ctx)
	c.tmu.Lock()
	c.runCtx = ctx
	for _, t := range c.targets {
		c.runLocked(t)
	}
	c.tmu.Unlock()
	context.AfterFunc(ctx, c.detach)
}

// Stop ends the checks, waits until every goroutine of c has returned and
// detaches the Records, which keep their state for the next Checker. It is
// safe to call more than once and without Start.
func (c *Checker) Stop() {
	c.stopOnce.Do(func() {
		c.lifeMu.Lock()
		c.started = true // a Start after Stop does nothing
		cancel := c.cancel
		c.lifeMu.Unlock()
		if cancel != nil {
			cancel()
		}
	})
	c.wg.Wait()
	c.detach()
}

func (c *Checker) detach() {
	c.detachOnce.Do(func() {
		c.tmu.RLock()
		defer c.tmu.RUnlock()
		for _, t := range c.targets {
			t.Record.detach(c)
		}
	})
}

// run checks t until ctx is done.
func (c *Checker) run(ctx context.Context, t *target) {
	defer c.wg.Done()
	defer close(t.done)
	tm := c.clock.NewTimer(c.firstDelay())
	defer tm.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tm.C():
		}
		c.checkOnce(ctx, t)
		tm.Reset(c.nextDelay())
	}
}

// checkOnce runs one check of t and applies its result. A check cut short
// because the Checker is stopping says nothing about the backend and is
// dropped; one that overran its timeout fails even if it claims success.
func (c *Checker) checkOnce(ctx context.Context, t *target) {
	start := c.clock.Now()
	cctx, cancel := context.WithTimeout(ctx, c.set.Timeout)
	err := c.safeCheck(cctx, t)
	if err == nil && cctx.Err() != nil {
		err = fmt.Errorf("check overran its timeout of %v: %w", c.set.Timeout, cctx.Err())
	}
	cancel()
	if ctx.Err() != nil {
		return
	}
	end := c.clock.Now()
	t.Record.observeActive(c.pol, err, end, end.Sub(start))
}

// safeCheck runs the check, turning a panic into a failed check.
func (c *Checker) safeCheck(ctx context.Context, t *target) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log("health: check panicked", "target", t.Name, "panic", v)
			err = fmt.Errorf("check panicked: %v", v)
		}
	}()
	return c.check(ctx, t)
}

// firstDelay spreads the first checks of the targets over Jitter*Interval.
func (c *Checker) firstDelay() time.Duration {
	return time.Duration(c.rand() * c.set.Jitter * float64(c.set.Interval))
}

// nextDelay is Interval, give or take up to Jitter*Interval.
func (c *Checker) nextDelay() time.Duration {
	return c.set.Interval + time.Duration((2*c.rand()-1)*c.set.Jitter*float64(c.set.Interval))
}
