package health

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors of the built-in gRPC check (Settings.Type "grpc").
var (
	// ErrNotServing: the backend answered, with a status other than SERVING.
	ErrNotServing = errors.New("grpc health: not serving")
	// ErrGRPCStatus: the call failed with a non-zero grpc-status
	// (NOT_FOUND when the backend does not know Settings.Service,
	// UNIMPLEMENTED when it has no health service).
	ErrGRPCStatus = errors.New("grpc health: call failed")
	// ErrBadGRPCReply: the answer is not a well-formed gRPC health reply.
	ErrBadGRPCReply = errors.New("grpc health: malformed reply")
)

// grpcHealthPath is the method the gRPC health protocol defines.
const grpcHealthPath = "/grpc.health.v1.Health/Check"

// maxGRPCReply bounds the reply read: a HealthCheckResponse is a few bytes,
// so anything much bigger is refused rather than buffered.
const maxGRPCReply = 1 << 10

// maxService bounds Settings.Service.
const maxService = 1 << 10

// servingStatus is grpc.health.v1.HealthCheckResponse.ServingStatus.
type servingStatus uint64

var servingNames = []string{"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"}

func (s servingStatus) String() string {
	if s < servingStatus(len(servingNames)) {
		return servingNames[s]
	}
	return "status " + strconv.FormatUint(uint64(s), 10)
}

const serving servingStatus = 1

// grpcCheck calls grpc.health.v1.Health/Check on t over HTTP/2 (h2c for
// h2c targets, TLS for https) and passes only on SERVING.
func (c *Checker) grpcCheck(ctx context.Context, t *target) error {
	req, err := c.newProbe(ctx, t, http.MethodPost, bytes.NewReader(c.grpcBody))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	if dl, ok := ctx.Deadline(); ok {
		// The server may give up as soon as the check would.
		req.Header.Set("Grpc-Timeout", strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10)+"m")
	}
	req.ContentLength = int64(len(c.grpcBody))
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		return fmt.Errorf("%w: answered over %s; gRPC needs HTTP/2", ErrBadGRPCReply, resp.Proto)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: http status %d", ErrBadGRPCReply, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/grpc") {
		return fmt.Errorf("%w: content type %q", ErrBadGRPCReply, ct)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGRPCReply+1))
	if err != nil {
		return fmt.Errorf("reading grpc reply: %w", err)
	}
	if len(body) > maxGRPCReply {
		return fmt.Errorf("%w: reply longer than %d bytes", ErrBadGRPCReply, maxGRPCReply)
	}
	// Trailers arrive after the body; a trailers-only reply (an error)
	// carries the status in the headers.
	status, msg := resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	if status == "" {
		status, msg = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if status != "0" {
		if status == "" {
			return fmt.Errorf("%w: no grpc-status", ErrBadGRPCReply)
		}
		return fmt.Errorf("%w: grpc-status %s: %q", ErrGRPCStatus, printable(status, 8), printable(msg, 200))
	}
	st, err := decodeHealthReply(body)
	if err != nil {
		return err
	}
	if st != serving {
		return fmt.Errorf("%w: %v", ErrNotServing, st)
	}
	return nil
}

// printable shortens s to n bytes and replaces what is not printable
// ASCII, so a backend cannot put control characters in our logs.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}

// encodeHealthRequest returns the length-prefixed gRPC message of a
// grpc.health.v1.HealthCheckRequest{service}: field 1, a string.
func encodeHealthRequest(service string) []byte {
	var msg []byte
	if service != "" {
		msg = append(msg, 1<<3|2) // field 1, length-delimited
		msg = binary.AppendUvarint(msg, uint64(len(service)))
		msg = append(msg, service...)
	}
	out := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

// decodeHealthReply reads one uncompressed length-prefixed gRPC message
// holding a grpc.health.v1.HealthCheckResponse and returns its status
// (field 1, a varint; UNKNOWN when absent). Unknown fields are skipped;
// anything that is not exactly one well-formed message is an error.
func decodeHealthReply(b []byte) (servingStatus, error) {
	if len(b) < 5 {
		return 0, fmt.Errorf("%w: %d bytes, want a 5-byte message header", ErrBadGRPCReply, len(b))
	}
	if b[0] != 0 {
		return 0, fmt.Errorf("%w: compressed or unknown flags %#x", ErrBadGRPCReply, b[0])
	}
	n := binary.BigEndian.Uint32(b[1:5])
	msg := b[5:]
	if uint64(n) != uint64(len(msg)) {
		return 0, fmt.Errorf("%w: message length %d, %d bytes follow", ErrBadGRPCReply, n, len(msg))
	}
	var st servingStatus
	for len(msg) > 0 {
		key, k := binary.Uvarint(msg)
		if k <= 0 {
			return 0, fmt.Errorf("%w: bad field key", ErrBadGRPCReply)
		}
		msg = msg[k:]
		field, wire := key>>3, key&7
		switch wire {
		case 0: // varint
			v, k := binary.Uvarint(msg)
			if k <= 0 {
				return 0, fmt.Errorf("%w: bad varint", ErrBadGRPCReply)
			}
			msg = msg[k:]
			if field == 1 {
				st = servingStatus(v)
			}
		case 1: // 64-bit
			if len(msg) < 8 {
				return 0, fmt.Errorf("%w: short fixed64", ErrBadGRPCReply)
			}
			msg = msg[8:]
		case 2: // length-delimited
			l, k := binary.Uvarint(msg)
			if k <= 0 || l > uint64(len(msg)-k) {
				return 0, fmt.Errorf("%w: bad length", ErrBadGRPCReply)
			}
			msg = msg[k+int(l):]
		case 5: // 32-bit
			if len(msg) < 4 {
				return 0, fmt.Errorf("%w: short fixed32", ErrBadGRPCReply)
			}
			msg = msg[4:]
		default:
			return 0, fmt.Errorf("%w: wire type %d", ErrBadGRPCReply, wire)
		}
		if field == 0 {
			return 0, fmt.Errorf("%w: field number 0", ErrBadGRPCReply)
		}
	}
	return st, nil
}
