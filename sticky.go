package smartproxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/config"
)

// Sticky sessions by cookie (load_balancer.sticky). A backend's cookie
// value is its token: the HMAC-SHA256, under the route's secret, of the
// route id and the backend's name, truncated to 32 hex digits; it names the
// backend without revealing its address, and a client cannot make one up
// for a backend it was never sent to. Each snapshot of the pool carries a
// map from token to the backends that may take new sessions (available,
// weight above 0, in the tier that serves), so a pick looks the cookie up
// with no lock and no allocation; a cookie that names no such backend
// (stale, forged, another route's, huge) is simply balanced, and the
// response sets the cookie of the backend that answered.
//
// The secret is configured (several instances, cookies that survive a
// restart) or made at random once per route and kept across reloads in a
// UsagePool, like the other per-route state.

// tokenLen is the length of a cookie value: 128 bits of the HMAC, in hex.
const tokenLen = 32

// stickySecrets keeps each route's generated secret across reloads.
var stickySecrets = newShared[[]byte]("sticky", nil)

// stickiness is a route's sticky-cookie settings.
type stickiness struct {
	id     string // the route's id, part of every token
	secret []byte
	name   string
	// attrs are the cookie's attributes after its value, without and
	// with Secure.
	attrs [2]string
	// secure: true, false, or unset (nil): Secure on TLS requests only.
	secure *bool
}

// stickyEntry is one member's cookie: its token and the Set-Cookie values
// without and with Secure. Made once per member, under the pool's lock.
type stickyEntry struct {
	token     string
	setCookie [2]string
}

// newStickiness makes route id's sticky settings from sc, held in hs;
// path is the route's path prefix, the cookie's Path. nil when sc is.
func newStickiness(hs *holds, id, path string, sc *config.Sticky) (*stickiness, error) {
	if sc == nil {
		return nil, nil
	}
	st := &stickiness{id: id, name: sc.CookieOrDefault(), secure: sc.Secure}
	if sc.Secret != "" {
		secret := caddy.NewReplacer().ReplaceAll(sc.Secret, "") // {env.*} and other global placeholders
		if len(secret) < config.MinStickySecret {
			return nil, fmt.Errorf("load_balancer.sticky.secret: %d bytes once expanded: too short, use at least %d", len(secret), config.MinStickySecret)
		}
		st.secret = []byte(secret)
	} else {
		secret, err := stickySecrets.acquire(hs, stateKey{route: id}, func() ([]byte, error) {
			b := make([]byte, 32)
			_, err := rand.Read(b)
			return b, err
		})
		if err != nil {
			return nil, fmt.Errorf("load_balancer.sticky: making a secret: %v", err)
		}
		st.secret = secret
	}
	var a strings.Builder
	a.WriteString("; Path=")
	a.WriteString(cookiePath(path))
	if sc.MaxAge > 0 {
		a.WriteString("; Max-Age=")
		a.WriteString(strconv.FormatInt(int64(time.Duration(sc.MaxAge)/time.Second), 10))
	}
	if sc.HTTPOnlyOrDefault() {
		a.WriteString("; HttpOnly")
	}
	switch sc.SameSite {
	case "strict":
		a.WriteString("; SameSite=Strict")
	case "none":
		a.WriteString("; SameSite=None")
	default:
		a.WriteString("; SameSite=Lax")
	}
	st.attrs[0] = a.String()
	st.attrs[1] = st.attrs[0] + "; Secure"
	if sc.SameSite == "none" {
		st.attrs[0] = st.attrs[1] // browsers drop SameSite=None without Secure
	}
	return st, nil
}

// routePath is the path prefix of the route whose short name is short
// (module.go names routes host+path, "*"+path or "default"; a host has no
// slash, so the path starts at the first one).
func routePath(short string) string {
	if i := strings.IndexByte(short, '/'); i >= 0 {
		return short[i:]
	}
	return "/"
}

// cookiePath is the Path attribute for a route's path prefix: the prefix
// without its trailing slash (a cookie path matches on whole segments, as
// routes do), or / for the default route and a prefix a cookie cannot
// carry.
func cookiePath(p string) string {
	p = strings.TrimSuffix(p, "/")
	if p == "" || !strings.HasPrefix(p, "/") {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == ';' {
			return "/"
		}
	}
	return p
}

// entry makes b's cookie.
func (st *stickiness) entry(b *backend.Backend) *stickyEntry {
	mac := hmac.New(sha256.New, st.secret)
	mac.Write([]byte(st.id))
	mac.Write([]byte{0})
	mac.Write([]byte(b.Name))
	tok := hex.EncodeToString(mac.Sum(nil))[:tokenLen]
	prefix := st.name + "=" + tok
	return &stickyEntry{token: tok, setCookie: [2]string{prefix + st.attrs[0], prefix + st.attrs[1]}}
}

// stickyTable maps tokens to the backends that take new sessions, in one
// snapshot.
type stickyTable struct {
	name    string
	byToken map[string]*backend.Backend
}

// table builds a snapshot's table: the members marked in serving that are
// available and weighted take sessions. The pool's lock is held; each
// member's entry is made once, before any snapshot that has the member is
// published.
func (st *stickiness) table(ms []*member, serving []bool) *stickyTable {
	t := &stickyTable{name: st.name, byToken: make(map[string]*backend.Backend, len(ms))}
	for i, m := range ms {
		if m.sticky == nil {
			m.sticky = st.entry(m.b)
		}
		if serving[i] && m.available && m.b.Weight() > 0 {
			t.byToken[m.sticky.token] = m.b
		}
	}
	return t
}

// setSticky turns sticky cookies on with st and publishes a snapshot with
// its table; called once, before the pool serves.
func (p *pool) setSticky(st *stickiness) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sticky = st
	p.rebuildLocked()
}

// lookup returns the backend that a cookie of h names, or nil. Every
// cookie of the table's name is tried (a client may hold one per route
// path); values of the wrong length are not even looked up.
func (t *stickyTable) lookup(h http.Header) *backend.Backend {
	for _, line := range h["Cookie"] {
		for line != "" {
			var pair string
			pair, line, _ = strings.Cut(line, ";")
			if v, ok := cookieValue(pair, t.name); ok && len(v) == tokenLen {
				if b := t.byToken[v]; b != nil {
					return b
				}
			}
		}
	}
	return nil
}

// cookieValue returns the value of one `name=value` pair of a Cookie
// header when its name is name (surrounding spaces and quotes dropped).
func cookieValue(pair, name string) (string, bool) {
	pair = strings.TrimLeft(pair, " \t")
	if len(pair) <= len(name) || pair[len(name)] != '=' || pair[:len(name)] != name {
		return "", false
	}
	v := strings.TrimRight(pair[len(name)+1:], " \t")
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v, true
}

// carries reports whether h has a cookie of name with value tok.
func carries(h http.Header, name, tok string) bool {
	for _, line := range h["Cookie"] {
		for line != "" {
			var pair string
			pair, line, _ = strings.Cut(line, ";")
			if v, ok := cookieValue(pair, name); ok && v == tok {
				return true
			}
		}
	}
	return false
}

// stamp adds to resp the cookie of the backend that answered r, unless r
// already carries it or the backend was drained meanwhile (no new
// sessions). Secure, when not configured, follows the client's TLS.
func (st *stickiness) stamp(r *http.Request, m *member, resp *http.Response) {
	e := m.sticky
	if e == nil || m.adminState() != adminReady || carries(r.Header, st.name, e.token) {
		return
	}
	i := 0
	if st.secure != nil && *st.secure || st.secure == nil && r.TLS != nil {
		i = 1
	}
	resp.Header["Set-Cookie"] = append(resp.Header["Set-Cookie"], e.setCookie[i])
}
