package smartproxy

import (
	"strconv"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// capsDirective parses the load-balancer subdirectives of sticky sessions
// and in-flight caps, at the dispenser's current token, into s:
//
//	max_requests <n>               load_balancer.max_requests
//	max_requests <upstream> <n>    backends[i].max_requests
//	queue { size <n>  timeout <d> }
//	sticky [<cookie>] { cookie  max_age  secure  http_only  same_site  secret }
func (p *cfParser) capsDirective(prefix string, s *config.Section, idx *upstreamIndex) error {
	d := p.d
	switch d.Val() {
	case "max_requests":
		args := d.RemainingArgs()
		if len(args) < 1 || len(args) > 2 {
			return d.Errf("max_requests: want `max_requests <n>` or `max_requests <upstream> <n>`, got %d values", len(args))
		}
		n, err := strconv.Atoi(args[len(args)-1])
		if err != nil {
			return d.Errf("max_requests: %q is not a whole number", args[len(args)-1])
		}
		if len(args) == 1 {
			p.mark(prefix + "load_balancer.max_requests")
			lbOf(s).MaxRequests = n
			return nil
		}
		i, ok := idx.lookup(s, upstreamURL(args[0]))
		if !ok {
			return d.Errf("max_requests: upstream %s is not listed by `to` before it", args[0])
		}
		p.mark(prefix + "backends[" + strconv.Itoa(i) + "].max_requests")
		s.Backends[i].MaxRequests = n
	case "queue":
		p.mark(prefix + "load_balancer.queue")
		q := new(config.Queue)
		lbOf(s).Queue = q
		return p.block(prefix+"load_balancer.queue", q)
	case "sticky":
		p.mark(prefix + "load_balancer.sticky")
		st := new(config.Sticky)
		lbOf(s).Sticky = st
		if d.NextArg() {
			p.mark(prefix + "load_balancer.sticky.cookie")
			st.Cookie = d.Val()
		}
		return p.block(prefix+"load_balancer.sticky", st)
	}
	return nil
}
