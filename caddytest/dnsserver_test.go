package caddytest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a DNS server on loopback (UDP) that answers A and SRV
// queries from tables the test changes while the proxy runs, or fails
// them all with SERVFAIL.
type dnsServer struct {
	addr    string
	conn    net.PacketConn
	done    chan struct{}
	queries atomic.Int64

	mu      sync.Mutex
	a       map[string][]netip.Addr // fully qualified, lower case
	srv     map[string][]srvRecord
	failing bool
}

// srvRecord is one SRV answer.
type srvRecord struct {
	target                 string
	port, priority, weight uint16
}

func newDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{addr: conn.LocalAddr().String(), conn: conn, done: make(chan struct{}),
		a: map[string][]netip.Addr{}, srv: map[string][]srvRecord{}}
	go s.serve()
	t.Cleanup(func() { conn.Close(); <-s.done })
	return s
}

// setA makes name resolve to ips (none: an empty answer).
func (s *dnsServer) setA(name string, ips ...string) {
	addrs := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		addrs[i] = netip.MustParseAddr(ip)
	}
	s.mu.Lock()
	s.a[strings.ToLower(name)+"."] = addrs
	s.mu.Unlock()
}

// setSRV makes name's SRV records rs.
func (s *dnsServer) setSRV(name string, rs ...srvRecord) {
	s.mu.Lock()
	s.srv[strings.ToLower(name)+"."] = rs
	s.mu.Unlock()
}

// fail makes every answer SERVFAIL (on) or the table's again (off).
func (s *dnsServer) fail(on bool) {
	s.mu.Lock()
	s.failing = on
	s.mu.Unlock()
}

func (s *dnsServer) serve() {
	defer close(s.done)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		s.queries.Add(1)
		var req dnsmessage.Message
		if req.Unpack(buf[:n]) != nil || len(req.Questions) != 1 {
			continue
		}
		resp := s.answer(req)
		if out, err := resp.Pack(); err == nil {
			s.conn.WriteTo(out, from)
		}
	}
}

func (s *dnsServer) answer(req dnsmessage.Message) dnsmessage.Message {
	q := req.Questions[0]
	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: req.ID, Response: true, Authoritative: true, RecursionDesired: req.RecursionDesired},
		Questions: req.Questions,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		resp.RCode = dnsmessage.RCodeServerFailure
		return resp
	}
	name := strings.ToLower(q.Name.String())
	if rs, ok := s.srv[name]; ok {
		if q.Type == dnsmessage.TypeSRV {
			for _, r := range rs {
				resp.Answers = append(resp.Answers, dnsmessage.Resource{
					Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeSRV, Class: dnsmessage.ClassINET, TTL: 1},
					Body: &dnsmessage.SRVResource{Target: dnsmessage.MustNewName(r.target + "."),
						Priority: r.priority, Weight: r.weight, Port: r.port},
				})
			}
		}
		return resp
	}
	addrs, ok := s.a[name]
	if !ok {
		resp.RCode = dnsmessage.RCodeNameError
		return resp
	}
	if q.Type != dnsmessage.TypeA {
		return resp // no AAAA records: an empty answer
	}
	for _, a := range addrs {
		resp.Answers = append(resp.Answers, dnsmessage.Resource{
			Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 1},
			Body:   &dnsmessage.AResource{A: a.As4()},
		})
	}
	return resp
}
