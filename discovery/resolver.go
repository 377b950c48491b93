package discovery

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// udpSize is the EDNS0 UDP payload size advertised: the size the DNS flag
// day 2020 recommends, which avoids IP fragmentation.
const udpSize = 1232

// Resolver asks DNS servers directly, over UDP with a TCP retry when the
// reply is truncated. It keeps no state between queries and is safe for
// concurrent use.
type Resolver struct {
	servers []string // host:port
	timeout time.Duration
}

// NewResolver returns a Resolver that asks servers (host:port, in order,
// the next when one fails), each query bounded by timeout.
func NewResolver(servers []string, timeout time.Duration) *Resolver {
	return &Resolver{servers: slices.Clone(servers), timeout: timeout}
}

// SRV is one SRV record.
type SRV struct {
	Target   string // with a trailing dot
	Port     uint16
	Priority uint16
	Weight   uint16
}

// LookupIP returns the addresses of name: A records when v4, AAAA records
// when v6, and the shortest TTL among them. A name that has none wraps
// ErrNXDomain or ErrNoRecords.
func (r *Resolver) LookupIP(ctx context.Context, name string, v4, v6 bool) ([]netip.Addr, time.Duration, error) {
	var addrs []netip.Addr
	var ttl uint32
	nx, found := 0, 0
	asked := 0
	for _, t := range []struct {
		on bool
		qt dnsmessage.Type
	}{{v4, dnsmessage.TypeA}, {v6, dnsmessage.TypeAAAA}} {
		if !t.on {
			continue
		}
		asked++
		ans, err := r.query(ctx, name, t.qt)
		switch {
		case errors.Is(err, ErrNXDomain):
			nx++
			continue
		case err != nil:
			return nil, 0, err
		}
		if len(ans.addrs) > 0 {
			if found == 0 || ans.ttl < ttl {
				ttl = ans.ttl
			}
			found++
		}
		addrs = append(addrs, ans.addrs...)
	}
	if len(addrs) == 0 {
		if nx == asked {
			return nil, 0, fmt.Errorf("%s: %w", name, ErrNXDomain)
		}
		return nil, 0, fmt.Errorf("%s: %w", name, ErrNoRecords)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return slices.Compact(addrs), time.Duration(ttl) * time.Second, nil
}

// LookupSRV returns the SRV records of name, sorted by priority, then
// weight (highest first), then target and port, and their shortest TTL.
// Records whose target is "." (no service) are left out.
func (r *Resolver) LookupSRV(ctx context.Context, name string) ([]SRV, time.Duration, error) {
	ans, err := r.query(ctx, name, dnsmessage.TypeSRV)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	var out []SRV
	for _, s := range ans.srvs {
		if t := s.Target.String(); t != "." {
			out = append(out, SRV{Target: t, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
		}
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("%s: %w", name, ErrNoRecords)
	}
	slices.SortFunc(out, func(a, b SRV) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(b.Weight, a.Weight),
			cmp.Compare(a.Target, b.Target), cmp.Compare(a.Port, b.Port))
	})
	return slices.Compact(out), time.Duration(ans.ttl) * time.Second, nil
}

// query asks each server in turn until one answers; an NXDOMAIN or an
// empty answer is an answer and is not asked of the next server.
func (r *Resolver) query(ctx context.Context, name string, qt dnsmessage.Type) (answer, error) {
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return answer{}, fmt.Errorf("%w: name %q: %v", ErrBadReply, name, err)
	}
	q := dnsmessage.Question{Name: n, Type: qt, Class: dnsmessage.ClassINET}
	var errs []error
	for _, server := range r.servers {
		ans, err := r.exchange(ctx, server, q)
		if err == nil || errors.Is(err, ErrNXDomain) {
			return ans, err
		}
		errs = append(errs, fmt.Errorf("%s %v from %s: %w", name, qt, server, err))
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return answer{}, fmt.Errorf("%w: no resolvers", ErrBadReply)
	}
	return answer{}, errors.Join(errs...)
}

// exchange asks one server over UDP, and again over TCP if the UDP reply
// is truncated, within r.timeout.
func (r *Resolver) exchange(ctx context.Context, server string, q dnsmessage.Question) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	id, msg, err := newQuery(q)
	if err != nil {
		return answer{}, err
	}
	ans, err := exchangeUDP(ctx, server, id, msg, q)
	if err != nil || !ans.truncated {
		return ans, err
	}
	ans, err = exchangeTCP(ctx, server, id, msg, q)
	if err == nil && ans.truncated {
		return answer{}, fmt.Errorf("%w: truncated over tcp", ErrBadReply)
	}
	return ans, err
}

// newQuery builds a recursive query for q with a random ID (the only
// defence of a UDP client against spoofed replies, so it comes from
// crypto/rand) and an EDNS0 record advertising udpSize.
func newQuery(q dnsmessage.Question) (uint16, []byte, error) {
	var b [2]byte
	_, _ = rand.Read(b[:])
	id := binary.BigEndian.Uint16(b[:])
	bld := dnsmessage.NewBuilder(make([]byte, 2, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	bld.EnableCompression()
	var opt dnsmessage.ResourceHeader
	err := errors.Join(bld.StartQuestions(), bld.Question(q), bld.StartAdditionals(),
		opt.SetEDNS0(udpSize, dnsmessage.RCodeSuccess, false),
		bld.OPTResource(opt, dnsmessage.OPTResource{}))
	if err != nil {
		return 0, nil, fmt.Errorf("building query: %w", err)
	}
	msg, err := bld.Finish()
	if err != nil {
		return 0, nil, fmt.Errorf("building query: %w", err)
	}
	// The two bytes in front are room for the TCP length prefix.
	binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
	return id, msg, nil
}

// exchangeUDP sends msg (after its length prefix) on a socket connected to
// server, so the kernel drops datagrams from anyone else, and reads until
// the reply to id arrives or ctx ends; datagrams that are not that reply
// are dropped.
func exchangeUDP(ctx context.Context, server string, id uint16, msg []byte, q dnsmessage.Question) (answer, error) {
	conn, done, err := dial(ctx, "udp", server)
	if err != nil {
		return answer{}, err
	}
	defer done()
	if _, err := conn.Write(msg[2:]); err != nil {
		return answer{}, err
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return answer{}, fmt.Errorf("udp: %w", ctx.Err())
			}
			return answer{}, fmt.Errorf("udp: %w", err)
		}
		ans, err := parseReply(buf[:n], id, q)
		if err == errIgnore {
			continue
		}
		return ans, err
	}
}

// exchangeTCP sends msg with its length prefix over a new TCP connection
// and reads one reply; over TCP a reply that is not ours fails at once.
func exchangeTCP(ctx context.Context, server string, id uint16, msg []byte, q dnsmessage.Question) (answer, error) {
	conn, done, err := dial(ctx, "tcp", server)
	if err != nil {
		return answer{}, err
	}
	defer done()
	if _, err := conn.Write(msg); err != nil {
		return answer{}, fmt.Errorf("tcp: %w", err)
	}
	var lb [2]byte
	if _, err := io.ReadFull(conn, lb[:]); err != nil {
		return answer{}, fmt.Errorf("tcp: reading length: %w", err)
	}
	reply := make([]byte, binary.BigEndian.Uint16(lb[:]))
	if _, err := io.ReadFull(conn, reply); err != nil {
		return answer{}, fmt.Errorf("tcp: reading reply: %w", err)
	}
	ans, err := parseReply(reply, id, q)
	if err == errIgnore {
		return answer{}, fmt.Errorf("%w: tcp reply does not answer the query", ErrBadReply)
	}
	return ans, err
}

// dial connects to server with ctx's deadline on the connection, which ctx
// ending also cuts short; done closes it.
func dial(ctx context.Context, network, server string) (net.Conn, func(), error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { stop(); conn.Close() }, nil
}
