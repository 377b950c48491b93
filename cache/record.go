package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Records: a stored response (or the Vary names of a URL) as the bytes a
// Tier keeps, so that another instance can serve it. A record carries what
// the instance that stored the response computed (its response time,
// corrected initial age, freshness lifetime, the directives that matter
// later), so every instance serves it with the same Age and the same
// freshness whatever its clock says about arrival; only the hit status's
// cache name is the reader's.
//
// A record comes back from a store that other processes write to, so the
// decoder trusts nothing: it checks the format's magic and version, that
// the record is for the key and variant asked for, every bound below,
// that every field name is a canonical token and no value holds a control
// character, that no hop-by-hop field is present, and that the input is
// consumed exactly. Anything else is a miss (ErrBadRecord), never a panic
// nor an allocation beyond the record's own size.
//
//	record  = magic(4) kind(1) key
//	kind V  : names                          the URL varies on these
//	kind E  : secondary names status time age lifetime swr flags fields body
//	names   = count(uvarint) string...
//	fields  = count(uvarint) (name count(uvarint) value...)...
//	string  = length(uvarint) bytes;  numbers are varints, durations in ns

// ErrBadRecord is wrapped by every error decoding a record returns.
var ErrBadRecord = errors.New("bad cache record")

// recordMagic starts every record: "SPC" and the format version.
const recordMagic = "SPC\x01"

const (
	recordEntry = 'E'
	recordVary  = 'V'
)

// Decoder bounds, above anything newEntry produces from a response a
// client could be sent.
const (
	maxRecordFields      = 256  // header fields of one response
	maxRecordFieldValues = 64   // values of one field
	maxRecordValues      = 1024 // values of all fields
	maxRecordVary        = 64   // Vary names
)

// entry flags.
const (
	flagNoCache = 1 << iota
	flagNoStale
	flagHeuristic
)

// appendRecord appends e's record to dst.
func (e *entry) appendRecord(dst []byte) []byte {
	dst = append(dst, recordMagic...)
	dst = append(dst, recordEntry)
	dst = appendString(dst, e.key)
	dst = appendString(dst, e.secondary)
	dst = appendNames(dst, e.varyNames)
	dst = binary.AppendUvarint(dst, uint64(e.status))
	dst = binary.AppendVarint(dst, e.responseTime.UnixNano())
	dst = binary.AppendVarint(dst, int64(e.initialAge))
	dst = binary.AppendVarint(dst, int64(e.lifetime))
	dst = binary.AppendVarint(dst, int64(e.swr))
	var flags byte
	if e.noCache {
		flags |= flagNoCache
	}
	if e.noStale {
		flags |= flagNoStale
	}
	if e.heuristic {
		flags |= flagHeuristic
	}
	dst = append(dst, flags)
	// Content-Length is the body's, set again by the reader.
	n := len(e.fields) + len(e.hidden)
	for _, f := range e.fields {
		if f.name == "Content-Length" {
			n--
		}
	}
	up := e.hitStatus[:len(e.hitStatus)-1] // the upstream Cache-Status members
	if len(up) > 0 {
		n++
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, fs := range [2][]field{e.fields, e.hidden} {
		for _, f := range fs {
			if f.name != "Content-Length" {
				dst = appendField(dst, f.name, f.values)
			}
		}
	}
	if len(up) > 0 {
		dst = appendField(dst, "Cache-Status", up)
	}
	return appendString(dst, string(e.body))
}

// appendVaryRecord appends the record saying that key varies on names.
func appendVaryRecord(dst []byte, key string, names []string) []byte {
	dst = append(dst, recordMagic...)
	dst = append(dst, recordVary)
	dst = appendString(dst, key)
	return appendNames(dst, names)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendNames(dst []byte, names []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, n := range names {
		dst = appendString(dst, n)
	}
	return dst
}

func appendField(dst []byte, name string, values []string) []byte {
	dst = appendString(dst, name)
	return appendNames(dst, values)
}

// recordReader reads a record, failing at the first thing out of place.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrBadRecord}, args...)...)
	}
	r.b = nil
}

func (r *recordReader) uvarint(limit uint64, what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.fail("%s: bad or over %d", what, limit)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 || v < 0 {
		r.fail("%s: bad or negative", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) byte1(what string) byte {
	if len(r.b) == 0 {
		r.fail("%s: truncated", what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// str reads a string; its length is bounded by what is left, so a lying
// length allocates nothing.
func (r *recordReader) str(what string) string {
	n := r.uvarint(uint64(len(r.b)), what)
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail("%s: longer than the record", what)
	}
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// names reads a list of at most limit field names (canonical tokens).
func (r *recordReader) names(limit uint64, what string) []string {
	n := r.uvarint(limit, what)
	var out []string
	for i := uint64(0); i < n && r.err == nil; i++ {
		s := r.str(what)
		if !validFieldName(s) || http.CanonicalHeaderKey(s) != s {
			r.fail("%s: %q is not a canonical field name", what, s)
		}
		out = append(out, s)
	}
	return out
}

// decodeRecord decodes a record read for key and field (the secondary
// key, "" for the primary record). It returns the entry, or for a
// primary record of a URL that varies, the names it varies on.
func (c *Cache) decodeRecord(b []byte, key, secondary string) (*entry, []string, error) {
	r := &recordReader{b: b}
	if len(b) < len(recordMagic)+1 || string(b[:len(recordMagic)]) != recordMagic {
		return nil, nil, fmt.Errorf("%w: not a record of this format version", ErrBadRecord)
	}
	r.b = b[len(recordMagic):]
	kind := r.byte1("kind")
	if k := r.str("key"); r.err == nil && k != key {
		return nil, nil, fmt.Errorf("%w: a record for another key", ErrBadRecord)
	}
	switch kind {
	case recordVary:
		names := r.names(maxRecordVary, "vary")
		if r.err == nil && (secondary != "" || len(names) == 0 || !slices.IsSorted(names)) {
			r.fail("vary record: not sorted names of a primary record")
		}
		if r.err == nil && len(r.b) != 0 {
			r.fail("%d bytes after the record", len(r.b))
		}
		return nil, names, r.err
	case recordEntry:
	default:
		return nil, nil, fmt.Errorf("%w: kind %q", ErrBadRecord, kind)
	}
	e := &entry{}
	if sec := r.str("secondary"); r.err == nil && sec != secondary {
		return nil, nil, fmt.Errorf("%w: a record for another variant", ErrBadRecord)
	}
	e.varyNames = r.names(maxRecordVary, "vary")
	if r.err == nil && ((len(e.varyNames) == 0) != (secondary == "") || !slices.IsSorted(e.varyNames)) {
		r.fail("vary names do not fit the variant")
	}
	e.status = int(r.uvarint(599, "status"))
	if r.err == nil && (e.status < 200 || e.status == http.StatusPartialContent || e.status == http.StatusNotModified) {
		r.fail("status %d is never stored", e.status)
	}
	e.responseTime = time.Unix(0, r.varint("response time"))
	e.initialAge = time.Duration(r.varint("age"))
	e.lifetime = time.Duration(r.varint("lifetime"))
	e.swr = time.Duration(r.varint("stale-while-revalidate"))
	flags := r.byte1("flags")
	e.noCache, e.noStale, e.heuristic = flags&flagNoCache != 0, flags&flagNoStale != 0, flags&flagHeuristic != 0
	h := r.header()
	body := r.str("body")
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the record", len(r.b))
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	if body != "" {
		e.body = []byte(body)
	}
	e.full = key + "\x00" + secondary
	e.key, e.secondary = e.full[:len(key)], e.full[len(key)+1:]
	c.assemble(e, h)
	return e, nil, nil
}

// header reads a record's header fields within the bounds.
func (r *recordReader) header() http.Header {
	n := r.uvarint(maxRecordFields, "fields")
	if r.err != nil {
		return nil
	}
	h := make(http.Header, n)
	total := 0
	for i := uint64(0); i < n && r.err == nil; i++ {
		name := r.str("field name")
		if r.err != nil {
			break
		}
		if !validFieldName(name) || http.CanonicalHeaderKey(name) != name || hopByHop[name] || name == "Content-Length" {
			r.fail("field %q may not be stored", name)
			break
		}
		if _, dup := h[name]; dup {
			r.fail("field %q twice", name)
			break
		}
		k := r.uvarint(maxRecordFieldValues, "field values")
		if total += int(k); total > maxRecordValues {
			r.fail("more than %d values", maxRecordValues)
		}
		vals := make([]string, 0, k)
		for j := uint64(0); j < k && r.err == nil; j++ {
			v := r.str("field value")
			if !validFieldValue(v) {
				r.fail("field %s: a value with a control character", name)
			}
			vals = append(vals, v)
		}
		h[name] = vals
	}
	return h
}

// validFieldValue reports whether v may be sent as a field value: no
// control characters but tab (RFC 9110 §5.5).
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
