package discovery

import (
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// FuzzParseReply feeds arbitrary bytes to the reply parser as an answer to
// query 0x1234 for api.test A (and SRV): it must never panic, and whatever
// it accepts is bounded and usable.
func FuzzParseReply(f *testing.F) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("api.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	req := dnsmessage.Message{Header: dnsmessage.Header{ID: 0x1234}, Questions: []dnsmessage.Question{q}}
	f.Add(replyTo(req, nil, rrA("api.test", "10.0.0.1", 5), rrA("api.test", "10.0.0.2", 5)))
	f.Add(replyTo(req, nil, rrCNAME("api.test", "b.test", 5), rrA("b.test", "10.0.0.3", 5)))
	f.Add(replyTo(req, func(m *dnsmessage.Message) { m.RCode = dnsmessage.RCodeNameError }))
	f.Add(replyTo(req, func(m *dnsmessage.Message) { m.Truncated = true }))
	sq := q
	sq.Type = dnsmessage.TypeSRV
	sreq := req
	sreq.Questions = []dnsmessage.Question{sq}
	f.Add(replyTo(sreq, nil, rrSRV("api.test", "a.test", 1, 2, 80, 5)))
	f.Add([]byte{0x12, 0x34, 0x80, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, question := range []dnsmessage.Question{q, sq} {
			ans, err := parseReply(msg, 0x1234, question)
			if err != nil {
				continue
			}
			if len(ans.addrs)+len(ans.srvs) > MaxRecords {
				t.Fatalf("%d records accepted", len(ans.addrs)+len(ans.srvs))
			}
			for _, a := range ans.addrs {
				if !a.IsValid() || !usableAddr(a) || a.Is4In6() {
					t.Fatalf("address %v accepted", a)
				}
			}
		}
	})
}
