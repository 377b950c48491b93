package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"
)

// Backend is one backend found in DNS.
type Backend struct {
	// URL is scheme://address:port, the address as an IP literal
	// (`http://10.0.0.5:8080`, `h2c://[2001:db8::1]:9000`).
	URL string
	// Host is the DNS name the address belongs to (Config.Name, or the
	// SRV target), without the trailing dot: the TLS server name for
	// https backends.
	Host string
	// Weight is Config.Weight, or the SRV record's weight (0 counts as 1:
	// RFC 2782 uses 0 for "no preference", not for "no traffic").
	Weight int
	// Priority is the SRV record's priority (lower is preferred); 0 for
	// A and AAAA.
	Priority int
}

// lookup resolves c (compiled) once into a sorted, deduplicated set and the
// time until the next lookup may be made.
func lookup(ctx context.Context, r *Resolver, c Config) ([]Backend, time.Duration, error) {
	if c.Type != "SRV" {
		addrs, ttl, err := r.LookupIP(ctx, c.Name, c.Type == "A", true)
		if err != nil {
			return nil, 0, err
		}
		if len(addrs) > MaxBackends {
			return nil, 0, fmt.Errorf("%s: %w: %d addresses, at most %d", c.Name, ErrTooMany, len(addrs), MaxBackends)
		}
		out := make([]Backend, len(addrs))
		for i, a := range addrs {
			out[i] = Backend{URL: c.Scheme + "://" + net.JoinHostPort(a.String(), strconv.Itoa(c.Port)), Host: trimDot(c.Name), Weight: c.Weight}
		}
		return normalize(out), ttl, nil
	}
	srvs, ttl, err := r.LookupSRV(ctx, c.Name)
	if err != nil {
		return nil, 0, err
	}
	if len(srvs) > maxSRVTargets {
		return nil, 0, fmt.Errorf("%s: %w: %d SRV records, at most %d", c.Name, ErrTooMany, len(srvs), maxSRVTargets)
	}
	type resolved struct {
		addrs []string
		err   error
	}
	seen := map[string]resolved{}
	var out []Backend
	var errs []error
	for _, s := range srvs {
		res, ok := seen[s.Target]
		if !ok {
			addrs, attl, err := r.LookupIP(ctx, s.Target, true, true)
			res.err = err
			for _, a := range addrs {
				res.addrs = append(res.addrs, a.String())
			}
			if err == nil {
				ttl = min(ttl, attl)
			}
			seen[s.Target] = res
		}
		switch {
		case errors.Is(res.err, ErrNXDomain), errors.Is(res.err, ErrNoRecords):
			// A target without addresses is skipped; the others serve.
			if !ok {
				errs = append(errs, res.err)
			}
			continue
		case res.err != nil:
			return nil, 0, res.err
		}
		w := max(int(s.Weight), 1)
		for _, a := range res.addrs {
			out = append(out, Backend{URL: c.Scheme + "://" + net.JoinHostPort(a, strconv.Itoa(int(s.Port))),
				Host: trimDot(s.Target), Weight: w, Priority: int(s.Priority)})
		}
		if len(out) > MaxBackends {
			return nil, 0, fmt.Errorf("%s: %w: more than %d backends", c.Name, ErrTooMany, MaxBackends)
		}
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("%s: %w: no SRV target has an address: %w", c.Name, ErrNoRecords, errors.Join(errs...))
	}
	return normalize(out), ttl, nil
}

// normalize sorts bs by URL and keeps one backend per URL: the one of the
// lowest priority and, among those, the highest weight.
func normalize(bs []Backend) []Backend {
	slices.SortStableFunc(bs, func(a, b Backend) int {
		return cmp.Or(cmp.Compare(a.URL, b.URL), cmp.Compare(a.Priority, b.Priority), cmp.Compare(b.Weight, a.Weight))
	})
	return slices.CompactFunc(bs, func(a, b Backend) bool { return a.URL == b.URL })
}

func trimDot(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// nextWait is the time from a lookup to the next one: Refresh, or longer
// when the records' TTL is (at most MaxTTLWait), and never under MinRefresh.
// After a failure it is Refresh.
func nextWait(refresh, ttl time.Duration, failed bool) time.Duration {
	if failed {
		return max(refresh, MinRefresh)
	}
	return max(refresh, min(ttl, MaxTTLWait), MinRefresh)
}
