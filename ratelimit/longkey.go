package ratelimit

import (
	"encoding/binary"
	"hash/maphash"
)

// MaxKeyBytes is the longest key a store keeps as it is. A longer key (an
// API key header, a bearer token, anything a client sends) is kept as its
// 16-byte KeyHasher digest instead, so the memory a stored key costs is
// bounded in bytes, not only in keys, whatever the clients send.
const MaxKeyBytes = 64

// DigestSize is the length of a KeyHasher digest: 128 bits.
const DigestSize = 16

// KeyHasher maps keys to 128-bit digests: two 64-bit maphash sums under two
// seeds drawn at random by NewKeyHasher, so digests differ from process to
// process and cannot be predicted from outside.
//
// Two long keys with the same digest, or a long key whose digest equals a
// 16-byte short key, share one bucket. That is harmless (two clients then
// share one burst, which errs on the side of limiting), and without the
// seeds nobody can aim for it: a collision among n keys has probability
// about n²/2¹²⁹. The zero value is not usable; use NewKeyHasher.
type KeyHasher struct {
	hi, lo maphash.Seed
}

// NewKeyHasher returns a KeyHasher with fresh random seeds.
func NewKeyHasher() KeyHasher {
	return KeyHasher{hi: maphash.MakeSeed(), lo: maphash.MakeSeed()}
}

// Sum returns key's digest. It allocates nothing.
func (h KeyHasher) Sum(key string) [DigestSize]byte {
	var d [DigestSize]byte
	binary.LittleEndian.PutUint64(d[:8], maphash.String(h.hi, key))
	binary.LittleEndian.PutUint64(d[8:], maphash.String(h.lo, key))
	return d
}

// keyBytes is what the store's lookup accepts: a short key as the caller's
// string, or a long key's digest as a slice of an array on the caller's
// stack. Both index the map without allocating.
type keyBytes interface{ string | []byte }
