package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// Lookup errors. Each wraps one of these, so a caller can tell "the name
// has no backends" (ErrNXDomain, ErrNoRecords) from "DNS did not answer
// properly" (the rest); either way a Watcher keeps its last good set.
var (
	ErrNXDomain  = errors.New("name does not exist (NXDOMAIN)")
	ErrNoRecords = errors.New("no usable records")
	ErrRcode     = errors.New("dns server answered with an error")
	ErrBadReply  = errors.New("malformed or refused dns reply")
	ErrTooMany   = errors.New("too many records")
)

// Limits on what one answer may hold.
const (
	// MaxRecords is the most answer records one reply may carry.
	MaxRecords = 1024
	// MaxCNAMEs is the longest CNAME chain followed.
	MaxCNAMEs = 8
	// MaxBackends is the most backends one lookup may give.
	MaxBackends = 512
	// maxSRVTargets is the most SRV targets whose addresses are looked up.
	maxSRVTargets = 64
)

// errIgnore marks a UDP datagram that is not the reply to our query (wrong
// ID, not a response, another question): a spoofing attempt or a late
// answer to an earlier query. The reader drops it and keeps waiting.
var errIgnore = errors.New("not the reply to this query")

// answer is what one reply says about the question.
type answer struct {
	truncated bool
	addrs     []netip.Addr
	srvs      []dnsmessage.SRVResource
	ttl       uint32 // the shortest TTL of the records used
}

// parseReply checks that msg answers query id for q and collects the
// records of q's type for q's name (following CNAMEs within the answer).
// It never panics on any input; errIgnore means the message is not ours.
func parseReply(msg []byte, id uint16, q dnsmessage.Question) (answer, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return answer{}, fmt.Errorf("%w: header: %v", ErrBadReply, err)
	}
	if h.ID != id || !h.Response || h.OpCode != 0 {
		return answer{}, errIgnore
	}
	got, err := p.Question()
	if err != nil {
		return answer{}, errIgnore
	}
	if !sameName(got.Name, q.Name) || got.Type != q.Type || got.Class != q.Class {
		return answer{}, errIgnore
	}
	if _, err := p.Question(); err != dnsmessage.ErrSectionDone {
		return answer{}, errIgnore // one question only
	}
	if h.Truncated {
		return answer{truncated: true}, nil
	}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return answer{}, ErrNXDomain
	default:
		return answer{}, fmt.Errorf("%w: %v", ErrRcode, h.RCode)
	}
	type rec struct {
		owner string
		ttl   uint32
		cname string
		addr  netip.Addr
		srv   dnsmessage.SRVResource
	}
	var recs []rec
	for i := 0; ; i++ {
		rh, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return answer{}, fmt.Errorf("%w: answer %d: %v", ErrBadReply, i, err)
		}
		if i >= MaxRecords {
			return answer{}, fmt.Errorf("%w: more than %d answers", ErrTooMany, MaxRecords)
		}
		r := rec{owner: strings.ToLower(rh.Name.String()), ttl: rh.TTL}
		keep := rh.Class == dnsmessage.ClassINET
		switch {
		case keep && rh.Type == dnsmessage.TypeCNAME:
			c, err := p.CNAMEResource()
			if err != nil {
				return answer{}, fmt.Errorf("%w: answer %d: %v", ErrBadReply, i, err)
			}
			r.cname = strings.ToLower(c.CNAME.String())
		case keep && rh.Type == q.Type && q.Type == dnsmessage.TypeA:
			a, err := p.AResource()
			if err != nil {
				return answer{}, fmt.Errorf("%w: answer %d: %v", ErrBadReply, i, err)
			}
			r.addr = netip.AddrFrom4(a.A)
		case keep && rh.Type == q.Type && q.Type == dnsmessage.TypeAAAA:
			a, err := p.AAAAResource()
			if err != nil {
				return answer{}, fmt.Errorf("%w: answer %d: %v", ErrBadReply, i, err)
			}
			r.addr = netip.AddrFrom16(a.AAAA).Unmap()
		case keep && rh.Type == q.Type && q.Type == dnsmessage.TypeSRV:
			s, err := p.SRVResource()
			if err != nil {
				return answer{}, fmt.Errorf("%w: answer %d: %v", ErrBadReply, i, err)
			}
			r.srv = s
		default:
			if err := p.SkipAnswer(); err != nil {
				return answer{}, fmt.Errorf("%w: answer %d: %v", ErrBadReply, i, err)
			}
			continue
		}
		recs = append(recs, r)
	}
	// Follow the CNAME chain from the question's name; records of any
	// other owner were not asked for and are ignored.
	var ans answer
	first := true
	use := func(ttl uint32) {
		if first || ttl < ans.ttl {
			ans.ttl, first = ttl, false
		}
	}
	name := strings.ToLower(q.Name.String())
	for hops := 0; ; hops++ {
		next := ""
		for _, r := range recs {
			if r.owner != name {
				continue
			}
			switch {
			case r.cname != "":
				if next == "" {
					next = r.cname
					use(r.ttl)
				}
			case r.addr.IsValid():
				if usableAddr(r.addr) {
					ans.addrs = append(ans.addrs, r.addr)
					use(r.ttl)
				}
			case q.Type == dnsmessage.TypeSRV:
				ans.srvs = append(ans.srvs, r.srv)
				use(r.ttl)
			}
		}
		if len(ans.addrs) > 0 || len(ans.srvs) > 0 || next == "" || hops >= MaxCNAMEs {
			break
		}
		name = next
	}
	if len(ans.addrs) == 0 && len(ans.srvs) == 0 {
		ans.ttl = 0
	}
	return ans, nil
}

// usableAddr refuses addresses no backend can have: unspecified (which
// would reach this host), multicast and the IPv4 broadcast address.
func usableAddr(a netip.Addr) bool {
	return !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func sameName(a, b dnsmessage.Name) bool {
	return strings.EqualFold(a.String(), b.String())
}
