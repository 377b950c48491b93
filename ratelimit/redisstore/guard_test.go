package redisstore

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// hello3 is Redis 7's answer to HELLO 3, the largest reply the store gets.
const hello3 = "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n" +
	"$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n" +
	"$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"

var guardAccepts = []struct{ name, stream string }{
	{"script reply", "*4\r\n:5\r\n:4\r\n:50000\r\n:0\r\n"},
	{"HELLO 3", hello3},
	{"HELLO refused, then RESP2 script reply", "-ERR unknown command 'HELLO'\r\n*4\r\n:1\r\n:0\r\n:99\r\n:10\r\n"},
	{"status", "+OK\r\n"},
	{"error", "-NOSCRIPT No matching script. Please use EVAL.\r\n"},
	{"nulls", "$-1\r\n*-1\r\n_\r\n"},
	{"empty values", "$0\r\n\r\n*0\r\n%0\r\n+\r\n"},
	{"binary bulk", "$6\r\n\r\n\x00\xff\r\n\r\n"},
	{"nested", "*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n$1\r\nx\r\n"},
	{"RESP3 scalars", ",3.14\r\n(12345678901234567890\r\n#t\r\n=8\r\ntxt:abcd\r\n!5\r\nERR x\r\n"},
	{"RESP3 aggregates", ">2\r\n$3\r\nfoo\r\n:1\r\n~1\r\n:1\r\n%1\r\n:1\r\n:2\r\n"},
	{"deepest nesting", strings.Repeat("*1\r\n", maxDepth) + ":1\r\n"},
	{"widest aggregate", "*64\r\n" + strings.Repeat(":1\r\n", 64)},
	{"budgets are per reply", strings.Repeat("*64\r\n"+strings.Repeat("$900\r\n"+strings.Repeat("x", 900)+"\r\n", 64), 3)},
	{"most elements", "*16\r\n" + strings.Repeat("*63\r\n"+strings.Repeat(":1\r\n", 63), 16)},
}

var guardRefuses = []struct{ name, stream string }{
	{"huge array", "*2147483647\r\n"},
	{"huge bulk", "$999999999999\r\n"},
	{"huge map", "%1000000\r\n"},
	{"huge set", "~100000\r\n"},
	{"huge push", ">100000\r\n"},
	{"huge blob error", "!100000000\r\n"},
	{"huge verbatim", "=100000000\r\n"},
	{"one element too many", "*65\r\n"},
	{"map of 33 pairs", "%33\r\n"},
	{"bulk above the reply budget", "$65530\r\n"},
	{"bulks above the reply budget", "*64\r\n" + strings.Repeat("$4096\r\n"+strings.Repeat("x", 4096)+"\r\n", 16) + "$4096\r\n"},
	{"too deep", strings.Repeat("*1\r\n", maxDepth+1)},
	{"too many elements", "*17\r\n" + strings.Repeat("*63\r\n"+strings.Repeat(":1\r\n", 63), 16) + "*63\r\n"},
	{"negative count", "*-2\r\n"},
	{"negative bulk", "$-5\r\n"},
	{"sign after digits", "$1-\r\n"},
	{"no length", "$\r\n"},
	{"streamed string", "$?\r\n"},
	{"streamed array", "*?\r\n"},
	{"attribute", "|1\r\n+a\r\n+b\r\n"},
	{"unknown type", "x\r\n"},
	{"endless line", "+" + strings.Repeat("a", maxLine)},
	{"endless number", ":" + strings.Repeat("9", maxLine)},
	{"LF without CR", "+a\nb\r\n"},
	{"CR without LF", "+a\rb\r\n"},
	{"bulk longer than announced", "$3\r\nhello\r\n"},
	{"bulk without CRLF", "$3\r\nfooXY"},
	{"garbage", "HTTP/1.1 400 Bad Request\r\n"},
}

// feed runs stream through a fresh guard in chunks cut at the given
// offsets, returning the error and the offset of the chunk it came from.
func feed(stream string, cuts ...int) (error, int) {
	var g respGuard
	last := 0
	for _, c := range append(cuts, len(stream)) {
		if err := g.check([]byte(stream[last:c])); err != nil {
			return err, last
		}
		last = c
	}
	if g.state != gType || g.depth != 0 {
		return errors.New("stream ends inside a reply"), len(stream)
	}
	return nil, 0
}

func TestGuardAccepts(t *testing.T) {
	for _, tc := range guardAccepts {
		t.Run(tc.name, func(t *testing.T) {
			// Every cut in a short stream; a few thousand in a long one.
			step := max(1, len(tc.stream)/2048)
			for i := 0; i <= len(tc.stream); i += step {
				if err, _ := feed(tc.stream, i); err != nil {
					t.Fatalf("cut at %d: %v", i, err)
				}
			}
			var g respGuard
			for i := range len(tc.stream) {
				if err := g.check([]byte{tc.stream[i]}); err != nil {
					t.Fatalf("byte by byte, at %d: %v", i, err)
				}
			}
		})
	}
}

// TestGuardRefuses checks each hostile stream is refused in any chunking,
// and, for a header announcing too much, before its line is complete: the
// guard refuses the chunk that holds the header's LF at the latest, so
// go-redis never sees a whole header to act on.
func TestGuardRefuses(t *testing.T) {
	for _, tc := range guardRefuses {
		t.Run(tc.name, func(t *testing.T) {
			// A stream that is one header line: it must be refused
			// before its LF.
			lf := -1
			if strings.Count(tc.stream, "\n") == 1 && strings.HasSuffix(tc.stream, "\r\n") {
				lf = len(tc.stream) - 1
			}
			step := max(1, len(tc.stream)/2048)
			for i := 0; i <= len(tc.stream); i += step {
				err, at := feed(tc.stream, i)
				if !errors.Is(err, errHostileReply) {
					t.Fatalf("cut at %d: %v, want errHostileReply", i, err)
				}
				if i == 0 && lf >= 0 && at > lf {
					t.Fatalf("refused only in the chunk at %d, after the header's LF at %d", at, lf)
				}
			}
			var g respGuard
			for i := range len(tc.stream) {
				if err := g.check([]byte{tc.stream[i]}); err != nil {
					if lf >= 0 && i > lf {
						t.Fatalf("refused at byte %d, after the header's LF at %d", i, lf)
					}
					return
				}
			}
			t.Fatal("byte by byte: never refused")
		})
	}
}

// BenchmarkGuardScriptReply is the guard's cost on the hot reply.
func BenchmarkGuardScriptReply(b *testing.B) {
	reply := []byte("*4\r\n:5\r\n:4\r\n:50000\r\n:0\r\n")
	var g respGuard
	b.ReportAllocs()
	b.SetBytes(int64(len(reply)))
	for b.Loop() {
		if err := g.check(reply); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRespGuard checks that the guard's verdict on any stream does not
// depend on how the stream is cut into reads, and that it never panics.
func FuzzRespGuard(f *testing.F) {
	// Short seeds keep the fuzzer fast; the long cases are in the tests.
	for _, tc := range guardAccepts {
		if len(tc.stream) <= 1024 {
			f.Add([]byte(tc.stream), uint16(3))
		}
	}
	for _, tc := range guardRefuses {
		if len(tc.stream) <= 1024 {
			f.Add([]byte(tc.stream), uint16(1))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		var whole, split respGuard
		errWhole := whole.check(data)
		c := min(int(cut), len(data))
		errSplit := split.check(data[:c])
		if errSplit == nil {
			errSplit = split.check(data[c:])
		}
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole: %v; cut at %d: %v", errWhole, c, errSplit)
		}
		if errWhole == nil && (whole != split) {
			t.Fatalf("states differ: whole %+v, split %+v", whole, split)
		}
		if errWhole != nil && !errors.Is(errWhole, errHostileReply) {
			t.Fatalf("error %v does not wrap errHostileReply", errWhole)
		}
		if errWhole == nil && bytes.Contains(data, []byte("\n")) && whole.depth > maxDepth {
			t.Fatal("depth beyond its bound")
		}
	})
}

// A guard for stored data (the shared cache tier) takes replies up to its
// own budget and refuses one byte more; the default stays the script's.
func TestGuardReplyBudget(t *testing.T) {
	bulk := func(n int) []byte { return []byte("$" + strconv.Itoa(n) + "\r\n" + strings.Repeat("x", n) + "\r\n") }
	for _, tc := range []struct {
		name   string
		budget int
		size   int
		ok     bool
	}{
		{"default refuses 200 KiB", 0, 200 << 10, false},
		{"300 KiB budget takes 200 KiB", 300 << 10, 200 << 10, true},
		{"300 KiB budget takes its whole budget", 300 << 10, 300<<10 - len("$307200\r\n\r\n"), true},
		{"300 KiB budget refuses one byte more", 300 << 10, 300<<10 - len("$307200\r\n\r\n") + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := respGuard{lim: GuardLimits{ReplyBytes: tc.budget}}
			err := g.check(bulk(tc.size))
			if (err == nil) != tc.ok {
				t.Fatalf("bulk of %d bytes under budget %d: %v", tc.size, tc.budget, err)
			}
			if err == nil {
				if err := g.check([]byte(":1\r\n")); err != nil {
					t.Fatalf("next reply: %v", err)
				}
			}
		})
	}
}
