package discovery

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a small authoritative DNS server on 127.0.0.1, UDP and TCP on
// one port, whose zone a test changes while clients run.
type dnsServer struct {
	addr string
	udp  net.PacketConn
	tcp  net.Listener
	wg   sync.WaitGroup

	mu    sync.Mutex
	zone  map[zoneKey][]dnsmessage.Resource
	nx    map[string]bool // names answered NXDOMAIN
	fail  map[string]dnsmessage.RCode
	trunc map[string]bool // names whose UDP answers are truncated
	drop  map[string]bool // names never answered over UDP
	// raw, when set, answers a query with bytes of its own (hostile tests);
	// nil bytes fall back to the zone.
	raw func(req dnsmessage.Message, tcp bool) [][]byte

	udpQueries, tcpQueries atomic.Int64
}

type zoneKey struct {
	name string
	t    dnsmessage.Type
}

// newDNSServer starts a server and stops it at cleanup.
func newDNSServer(tb testing.TB) *dnsServer {
	tb.Helper()
	s := &dnsServer{zone: map[zoneKey][]dnsmessage.Resource{}, nx: map[string]bool{},
		fail: map[string]dnsmessage.RCode{}, trunc: map[string]bool{}, drop: map[string]bool{}}
	var err error
	for range 20 { // the TCP port may be taken; pick another UDP port then
		s.udp, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		s.tcp, err = net.Listen("tcp", s.udp.LocalAddr().String())
		if err == nil {
			break
		}
		s.udp.Close()
	}
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = s.udp.LocalAddr().String()
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	tb.Cleanup(s.close)
	return s
}

func (s *dnsServer) close() {
	s.udp.Close()
	s.tcp.Close()
	s.wg.Wait()
}

func fqdn(name string) string {
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return strings.ToLower(name)
}

// set replaces the records of name and type.
func (s *dnsServer) set(name string, t dnsmessage.Type, rs ...dnsmessage.Resource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[zoneKey{fqdn(name), t}] = rs
}

func (s *dnsServer) setNX(name string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nx[fqdn(name)] = on
}

func (s *dnsServer) setFail(name string, rc dnsmessage.RCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rc == dnsmessage.RCodeSuccess {
		delete(s.fail, fqdn(name))
	} else {
		s.fail[fqdn(name)] = rc
	}
}

func (s *dnsServer) setDrop(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop[fqdn(name)] = true
}

func (s *dnsServer) setTruncate(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trunc[fqdn(name)] = true
}

func (s *dnsServer) setRaw(f func(req dnsmessage.Message, tcp bool) [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = f
}

// Record constructors.
func rrA(name, ip string, ttl uint32) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeA, ttl), Body: &dnsmessage.AResource{A: netip.MustParseAddr(ip).As4()}}
}

func rrAAAA(name, ip string, ttl uint32) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeAAAA, ttl), Body: &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr(ip).As16()}}
}

func rrSRV(name, target string, prio, weight, port uint16, ttl uint32) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeSRV, ttl),
		Body: &dnsmessage.SRVResource{Target: dnsmessage.MustNewName(fqdn(target)), Priority: prio, Weight: weight, Port: port}}
}

func rrCNAME(name, target string, ttl uint32) dnsmessage.Resource {
	return dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeCNAME, ttl), Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(fqdn(target))}}
}

func hdr(name string, t dnsmessage.Type, ttl uint32) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(fqdn(name)), Type: t, Class: dnsmessage.ClassINET, TTL: ttl}
}

// answer builds the reply to req from the zone.
func (s *dnsServer) answer(req dnsmessage.Message, tcp bool) [][]byte {
	s.mu.Lock()
	raw := s.raw
	s.mu.Unlock()
	if raw != nil {
		if out := raw(req, tcp); out != nil {
			return out
		}
	}
	resp := dnsmessage.Message{Header: dnsmessage.Header{ID: req.ID, Response: true, Authoritative: true, RecursionDesired: req.RecursionDesired}}
	if len(req.Questions) != 1 {
		resp.RCode = dnsmessage.RCodeFormatError
		return [][]byte{pack(resp)}
	}
	q := req.Questions[0]
	resp.Questions = []dnsmessage.Question{q}
	name := strings.ToLower(q.Name.String())
	s.mu.Lock()
	defer s.mu.Unlock()
	switch rc, failing := s.fail[name]; {
	case failing:
		resp.RCode = rc
	case s.drop[name] && !tcp:
		return nil
	case s.nx[name]:
		resp.RCode = dnsmessage.RCodeNameError
	case s.trunc[name] && !tcp:
		resp.Truncated = true
	default:
		resp.Answers = append(resp.Answers, s.zone[zoneKey{name, dnsmessage.TypeCNAME}]...)
		resp.Answers = append(resp.Answers, s.zone[zoneKey{name, q.Type}]...)
	}
	return [][]byte{pack(resp)}
}

func pack(m dnsmessage.Message) []byte {
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

func (s *dnsServer) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		s.udpQueries.Add(1)
		var req dnsmessage.Message
		if req.Unpack(buf[:n]) != nil {
			continue
		}
		for _, out := range s.answer(req, false) {
			s.udp.WriteTo(out, from)
		}
	}
}

func (s *dnsServer) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			s.tcpQueries.Add(1)
			var lb [2]byte
			if _, err := io.ReadFull(c, lb[:]); err != nil {
				return
			}
			msg := make([]byte, binary.BigEndian.Uint16(lb[:]))
			if _, err := io.ReadFull(c, msg); err != nil {
				return
			}
			var req dnsmessage.Message
			if req.Unpack(msg) != nil {
				return
			}
			for _, out := range s.answer(req, true) {
				binary.BigEndian.PutUint16(lb[:], uint16(len(out)))
				if _, err := c.Write(append(lb[:], out...)); err != nil {
					return
				}
			}
		}()
	}
}
