package discovery

import (
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// replyTo packs an answer to req's question with the given records; edit
// changes the message before it is packed.
func replyTo(req dnsmessage.Message, edit func(*dnsmessage.Message), answers ...dnsmessage.Resource) []byte {
	m := dnsmessage.Message{Header: dnsmessage.Header{ID: req.ID, Response: true}, Questions: req.Questions, Answers: answers}
	if edit != nil {
		edit(&m)
	}
	return pack(m)
}

func lookupOnce(t *testing.T, srv *dnsServer, name string, timeout time.Duration) ([]Backend, error) {
	t.Helper()
	c, err := Config{Name: name, Resolvers: []string{srv.addr}, Timeout: timeout}.compile()
	if err != nil {
		t.Fatal(err)
	}
	bs, _, err := lookup(t.Context(), NewResolver(c.Resolvers, c.Timeout), c)
	return bs, err
}

func TestTruncatedReplyIsAskedOverTCP(t *testing.T) {
	srv := newDNSServer(t)
	var many []dnsmessage.Resource
	for i := range 200 { // far more than fits in a 512-byte datagram
		many = append(many, rrA("big.test", "10.1."+itoa(i/250)+"."+itoa(i%250+1), 5))
	}
	srv.set("big.test", dnsmessage.TypeA, many...)
	srv.setTruncate("big.test")
	bs, err := lookupOnce(t, srv, "big.test", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 200 {
		t.Fatalf("%d backends, want 200", len(bs))
	}
	if srv.tcpQueries.Load() == 0 {
		t.Fatal("no TCP query after a truncated UDP reply")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestHostileReplies(t *testing.T) {
	good := func(req dnsmessage.Message) []byte {
		return replyTo(req, nil, rrA(req.Questions[0].Name.String(), "10.0.0.9", 5))
	}
	tests := []struct {
		name string
		raw  func(req dnsmessage.Message, tcp bool) [][]byte
		want error // nil: the lookup succeeds with 10.0.0.9 only
		fast bool  // the lookup fails before the timeout
	}{
		{name: "spoofed id before the real reply", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			spoof := req
			spoof.ID ^= 0x5a5a
			return [][]byte{replyTo(spoof, nil, rrA("api.test", "6.6.6.6", 5)), good(req)}
		}},
		{name: "a query echoed back before the reply", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			return [][]byte{replyTo(req, func(m *dnsmessage.Message) { m.Response = false }, rrA("api.test", "6.6.6.6", 5)), good(req)}
		}},
		{name: "only wrong ids", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			req.ID++
			return [][]byte{good(req)}
		}, want: errAny},
		{name: "another question", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			other := req
			other.Questions = []dnsmessage.Question{{Name: dnsmessage.MustNewName("evil.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}
			return [][]byte{good(other)}
		}, want: errAny},
		{name: "records for another name", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			return [][]byte{replyTo(req, nil, rrA("evil.test", "6.6.6.6", 5), rrA("test", "6.6.6.7", 5))}
		}, want: ErrNoRecords, fast: true},
		{name: "records for another name among good ones", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			return [][]byte{replyTo(req, nil, rrA("evil.test", "6.6.6.6", 5), rrA(req.Questions[0].Name.String(), "10.0.0.9", 5))}
		}},
		{name: "huge answer count", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			b := good(req)
			binary.BigEndian.PutUint16(b[6:], 0xffff)
			return [][]byte{b}
		}, want: ErrBadReply, fast: true},
		{name: "huge question count", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			b := good(req)
			binary.BigEndian.PutUint16(b[4:], 0xffff)
			return [][]byte{b, good(req)} // the first is not an answer to one question
		}},
		{name: "compression loop", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			b := replyTo(req, nil)
			binary.BigEndian.PutUint16(b[6:], 1)
			off := len(b)
			b = append(b, 0xc0|byte(off>>8), byte(off)) // a name that points at itself
			b = append(b, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 9)
			return [][]byte{b}
		}, want: ErrBadReply, fast: true},
		{name: "record cut short", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			b := good(req)
			return [][]byte{b[:len(b)-2]}
		}, want: ErrBadReply, fast: true},
		{name: "garbage", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			return [][]byte{{1, 2, 3}}
		}, want: ErrBadReply, fast: true},
		{name: "unusable addresses", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			n := req.Questions[0].Name.String()
			return [][]byte{replyTo(req, nil, rrA(n, "0.0.0.0", 5), rrA(n, "224.0.0.1", 5), rrA(n, "255.255.255.255", 5), rrA(n, "10.0.0.9", 5))}
		}},
		{name: "cname chain", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			n := req.Questions[0].Name.String()
			return [][]byte{replyTo(req, nil, rrCNAME(n, "mid.test", 5), rrCNAME("mid.test", "real.test", 5), rrA("real.test", "10.0.0.9", 5))}
		}},
		{name: "cname loop", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			n := req.Questions[0].Name.String()
			return [][]byte{replyTo(req, nil, rrCNAME(n, "b.test", 5), rrCNAME("b.test", n, 5))}
		}, want: ErrNoRecords, fast: true},
		{name: "too many records", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			if !tcp {
				return [][]byte{replyTo(req, func(m *dnsmessage.Message) { m.Truncated = true })}
			}
			var rs []dnsmessage.Resource
			for i := range MaxRecords + 1 {
				rs = append(rs, rrA(req.Questions[0].Name.String(), "10.2."+itoa(i/250)+"."+itoa(i%250+1), 5))
			}
			return [][]byte{replyTo(req, nil, rs...)}
		}, want: ErrTooMany, fast: true},
		{name: "wrong id over tcp", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			if !tcp {
				return [][]byte{replyTo(req, func(m *dnsmessage.Message) { m.Truncated = true })}
			}
			req.ID++
			return [][]byte{good(req)}
		}, want: ErrBadReply, fast: true},
		{name: "truncated over tcp too", raw: func(req dnsmessage.Message, tcp bool) [][]byte {
			return [][]byte{replyTo(req, func(m *dnsmessage.Message) { m.Truncated = true })}
		}, want: ErrBadReply, fast: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newDNSServer(t)
			srv.setRaw(func(req dnsmessage.Message, tcp bool) [][]byte {
				if req.Questions[0].Type != dnsmessage.TypeA {
					return [][]byte{replyTo(req, nil)} // AAAA: no records
				}
				return tc.raw(req, tcp)
			})
			timeout := 500 * time.Millisecond
			start := time.Now()
			bs, err := lookupOnce(t, srv, "api.test", timeout)
			switch {
			case tc.want == nil:
				if err != nil || !slices.Equal(urls(bs), []string{"http://10.0.0.9:80"}) {
					t.Fatalf("got %v, %v; want only the genuine 10.0.0.9", urls(bs), err)
				}
			case err == nil:
				t.Fatalf("accepted %v", urls(bs))
			case tc.want != errAny && !errors.Is(err, tc.want):
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.fast && time.Since(start) >= timeout {
				t.Fatalf("took %v: a bad reply should fail at once, not wait for the timeout", time.Since(start))
			}
		})
	}
}

// errAny matches any error in TestHostileReplies.
var errAny = errors.New("any error")

func TestResolverTriesTheNextServer(t *testing.T) {
	bad := newDNSServer(t)
	bad.setFail("api.test", dnsmessage.RCodeServerFailure)
	good := newDNSServer(t)
	good.set("api.test", dnsmessage.TypeA, rrA("api.test", "10.0.0.1", 5))
	r := NewResolver([]string{bad.addr, good.addr}, time.Second)
	addrs, ttl, err := r.LookupIP(t.Context(), "api.test.", true, true)
	if err != nil || len(addrs) != 1 || ttl != 5*time.Second {
		t.Fatalf("got %v %v %v", addrs, ttl, err)
	}
	// NXDOMAIN is an answer: the next server is not asked.
	nx := newDNSServer(t)
	nx.setNX("api.test", true)
	r = NewResolver([]string{nx.addr, good.addr}, time.Second)
	if _, _, err := r.LookupIP(t.Context(), "api.test.", true, false); !errors.Is(err, ErrNXDomain) {
		t.Fatalf("error %v, want NXDOMAIN from the first server", err)
	}
	if good.udpQueries.Load() != 2 { // the A and AAAA queries of the first lookup
		t.Fatalf("the second server was asked %d times", good.udpQueries.Load())
	}
}
