package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
)

// ErrInvalidConfig is wrapped by every error Config.Validate and New return
// for a bad setting; the message names the key and the value.
var ErrInvalidConfig = errors.New("invalid dns discovery config")

// Defaults and limits of Config.
const (
	DefaultType    = "A"
	DefaultScheme  = "http"
	DefaultRefresh = 30 * time.Second
	DefaultTimeout = 2 * time.Second
	DefaultWeight  = 1
	// MinRefresh is the shortest time between two lookups, whatever the
	// records' TTLs say.
	MinRefresh = time.Second
	// MaxTTLWait caps how long a long TTL postpones the next lookup.
	MaxTTLWait = time.Hour
	// resolvConf is where the default resolvers are read from.
	resolvConf = "/etc/resolv.conf"
)

// Config is one DNS name to take backends from. Every zero field takes the
// default its comment states, except Name, which is required.
type Config struct {
	// Name is the DNS name asked: a host name for types A and AAAA, a
	// service name (`_api._tcp.example.com`) for SRV. A trailing dot is
	// optional. Required.
	Name string
	// Type is `A` (A and AAAA records), `AAAA` (AAAA only) or `SRV`.
	// Case does not matter. Default: A.
	Type string
	// Port of every backend, 1-65535; not allowed with SRV, whose records
	// give the ports. Default: the scheme's port (80 for http and h2c, 443
	// for https).
	Port int
	// Scheme of the backends' URLs: `http`, `https` or `h2c`.
	// Default: http.
	Scheme string
	// Refresh is the time between two lookups; a record TTL that is longer
	// postpones the next lookup until it runs out (at most MaxTTLWait).
	// At least MinRefresh (1s). Default: 30s.
	Refresh time.Duration
	// Resolvers are the DNS servers asked, in order, each an IP address
	// with an optional port (`127.0.0.1:53`, `[::1]:5353`, `10.0.0.2`);
	// the next is tried when one fails. Default: the nameservers of
	// /etc/resolv.conf, or 127.0.0.1:53 when it names none.
	Resolvers []string
	// Timeout bounds one query to one resolver, UDP and a TCP retry
	// together. Default: 2s.
	Timeout time.Duration
	// Weight of every backend, 1 or more; not allowed with SRV, whose
	// records give the weights. Default: 1.
	Weight int
}

// Validate reports every bad field, each error a *fielderr.Error naming
// the key and the value and wrapping ErrInvalidConfig. It does not change c.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// compile returns c with defaults applied, the type upper-cased, the name
// fully qualified and the resolvers as host:port, or every problem.
func (c Config) compile() (Config, error) {
	var errs []error
	bad := func(field string, value any, why string) {
		errs = append(errs, fielderr.New(field, value, fmt.Errorf("%w: %s %v: %s", ErrInvalidConfig, field, value, why)))
	}
	c.Type = strings.ToUpper(c.Type)
	if c.Type == "" {
		c.Type = DefaultType
	}
	srv := c.Type == "SRV"
	switch c.Type {
	case "A", "AAAA", "SRV":
	default:
		bad("type", fmt.Sprintf("%q", c.Type), "must be A, AAAA or SRV")
	}
	if c.Name == "" {
		bad("name", `""`, "required")
	} else if err := checkName(c.Name); err != nil {
		bad("name", fmt.Sprintf("%q", c.Name), err.Error())
	} else if !strings.HasSuffix(c.Name, ".") {
		c.Name += "."
	}
	if c.Scheme == "" {
		c.Scheme = DefaultScheme
	}
	switch c.Scheme {
	case "http", "h2c", "https":
	default:
		bad("scheme", fmt.Sprintf("%q", c.Scheme), "must be http, https or h2c")
	}
	switch {
	case srv && c.Port != 0:
		bad("port", c.Port, "not allowed with type SRV: the records give the ports")
	case c.Port < 0 || c.Port > 65535:
		bad("port", c.Port, "must be 1-65535")
	case c.Port == 0 && c.Scheme == "https":
		c.Port = 443
	case c.Port == 0:
		c.Port = 80
	}
	switch {
	case srv && c.Weight != 0:
		bad("weight", c.Weight, "not allowed with type SRV: the records give the weights")
	case c.Weight < 0:
		bad("weight", c.Weight, "must be 1 or more")
	case c.Weight == 0:
		c.Weight = DefaultWeight
	}
	if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
	} else if c.Refresh < MinRefresh {
		bad("refresh", c.Refresh, fmt.Sprintf("must be at least %v", MinRefresh))
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	} else if c.Timeout < 0 {
		bad("timeout", c.Timeout, "must be positive")
	}
	servers := c.Resolvers
	if len(servers) == 0 {
		servers = systemResolvers(resolvConf)
	}
	c.Resolvers = make([]string, 0, len(servers))
	for i, r := range servers {
		hp, err := resolverAddr(r)
		if err != nil {
			bad("resolvers["+strconv.Itoa(i)+"]", fmt.Sprintf("%q", r), err.Error())
			continue
		}
		c.Resolvers = append(c.Resolvers, hp)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// checkName accepts a DNS name of letters, digits, '-' and '_' (SRV
// labels), labels of 1-63 bytes, at most 253 bytes in all.
func checkName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return errors.New("must be a DNS name of 1-253 characters")
	}
	for label := range strings.SplitSeq(n, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("every label must have 1-63 characters")
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
				return fmt.Errorf("%q is not allowed in a DNS name", b)
			}
		}
	}
	return nil
}

// resolverAddr turns an IP address with an optional port into host:port.
func resolverAddr(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 || ap.Addr().Zone() != "" {
			return "", errors.New("must be an IP address with a port 1-65535 and no zone")
		}
		return ap.String(), nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return "", errors.New("must be an IP address, optionally with a port, such as 127.0.0.1:53")
	}
	return net.JoinHostPort(a.String(), "53"), nil
}

// systemResolvers reads the nameserver lines of a resolv.conf; it returns
// 127.0.0.1:53 when the file is missing or names none.
func systemResolvers(path string) []string {
	var out []string
	if b, err := os.ReadFile(path); err == nil {
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "nameserver" {
				if _, err := resolverAddr(f[1]); err == nil {
					out = append(out, f[1])
				}
			}
		}
	}
	if len(out) == 0 {
		out = []string{"127.0.0.1:53"}
	}
	return out
}
