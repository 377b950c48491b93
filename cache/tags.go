package cache

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
)

// Tags (surrogate keys). A stored response carries the tags named in its
// TagHeaders fields (Surrogate-Key and Cache-Tag by default), separated by
// spaces or commas in any of them, and PurgeTags removes every response
// carrying any of the given tags. Unless ExposeTags is set, the tag fields
// are kept from clients: they are not sent with hits nor with forwarded
// responses (they are an origin's note to its cache), but are kept with
// the entry so that a 304 that names no tags leaves the stored ones.
//
// The index is bounded: an entry keeps at most maxTagsPerEntry tags of at
// most maxTagBytes bytes each (more are ignored, longer ones dropped), and
// each tag it keeps is counted in its size against MaxBytes
// (tagOverhead plus the tag's length), so the index holds at most
// MaxSize × maxTagsPerEntry pairs and lives within the byte budget.

const (
	// maxTagsPerEntry bounds the tags one response records.
	maxTagsPerEntry = 64
	// maxTagBytes is the longest tag recorded.
	maxTagBytes = 256
	// tagOverhead estimates an index slot (map entry in the tag's set,
	// the set itself amortised) and the entry's reference to the tag.
	tagOverhead = 96
)

// defaultTagHeaders are the response fields that carry tags by default:
// Fastly's and Varnish's Surrogate-Key, Cloudflare's Cache-Tag.
var defaultTagHeaders = []string{"Surrogate-Key", "Cache-Tag"}

// parseTags returns the distinct tags of the fields of h named in names,
// in order, within the bounds above.
func parseTags(h http.Header, names []string) []string {
	var tags []string
	for _, name := range names {
		for _, line := range h[name] {
			for line != "" {
				i := strings.IndexAny(line, " \t,")
				tag := line
				if i >= 0 {
					tag, line = line[:i], line[i+1:]
				} else {
					line = ""
				}
				if tag == "" || len(tag) > maxTagBytes || containsString(tags, tag) {
					continue
				}
				if len(tags) == maxTagsPerEntry {
					return tags
				}
				tags = append(tags, tag)
			}
		}
	}
	return tags
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// tagsBytes is what an entry's tags count against MaxBytes.
func tagsBytes(tags []string) int64 {
	var n int64
	for _, t := range tags {
		n += tagOverhead + int64(len(t))
	}
	return n
}

// indexTags records e under each of its tags. It runs with s.mu held.
func (s *store) indexTags(e *entry) {
	for _, t := range e.tags {
		set := s.tags[t]
		if set == nil {
			set = make(map[*entry]struct{}, 1)
			s.tags[t] = set
		}
		set[e] = struct{}{}
	}
}

// unindexTags forgets e's tags. It runs with s.mu held.
func (s *store) unindexTags(e *entry) {
	for _, t := range e.tags {
		if set := s.tags[t]; set != nil {
			delete(set, e)
			if len(set) == 0 {
				delete(s.tags, t)
			}
		}
	}
}

// removeTags removes every stored response carrying any of tags and
// returns how many went, letting go of the lock every purgeBatch removals.
func (s *store) removeTags(tags []string) int {
	n := 0
	s.mu.Lock()
	for _, t := range tags {
		for len(s.tags[t]) > 0 {
			for e := range s.tags[t] {
				if !s.lru.Remove(e) { // unlink takes e out of the set
					s.unindexTags(e) // never happens: the set holds stored entries only
				}
				if n++; n%purgeBatch == 0 {
					break // the set may change while the lock is let go
				}
			}
			if n%purgeBatch == 0 {
				s.mu.Unlock()
				s.mu.Lock()
			}
		}
	}
	s.mu.Unlock()
	return n
}

// PurgeTags removes every stored response that carries any of tags (see
// Settings.TagHeaders) and returns how many were removed.
func (c *Cache) PurgeTags(tags ...string) int {
	c.purgeTier(TierPurge{Kind: PurgeTags, Tags: tags})
	return c.store.removeTags(tags)
}

// validateFieldNames checks TagHeaders and Targets: each must be a field
// name.
func (s *Settings) validateFieldNames() error {
	for _, name := range s.TagHeaders {
		if !validFieldName(name) {
			return fielderr.New("tag_headers", name, fmt.Errorf("%w: tag_headers: %q is not a field name", ErrInvalidSettings, name))
		}
	}
	for _, name := range s.Targets {
		if !validFieldName(name) {
			return fielderr.New("targets", name, fmt.Errorf("%w: targets: %q is not a field name", ErrInvalidSettings, name))
		}
	}
	return nil
}

// canonicalOrDefault returns names in canonical form, or def when names
// is nil (an empty list turns the feature off).
func canonicalOrDefault(names, def []string) []string {
	if names == nil {
		return def
	}
	canon := make([]string, len(names))
	for i, name := range names {
		canon[i] = textproto.CanonicalMIMEHeaderKey(name)
	}
	return canon
}

// validFieldName reports whether s is a non-empty token (RFC 9110 §5.1).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
