package cache

import "net/http"

// What MaxBytes counts. The store's byte count is an estimate of the heap
// an entry keeps alive, not just its body: the body's capacity, the key
// and secondary key, every stored header name and value, and fixed
// overheads for the structures around them, estimated from their sizes on
// 64-bit Go with allocation rounding:
//
//   - entryOverhead: the entry itself (about 310 bytes), its node in the
//     recency list, its slot in the variant index and its Cache-Status
//     value;
//   - fieldOverhead per header name: its place in the stored field list
//     (and in the 304 subset), the value slice and allocation rounding;
//   - valueOverhead per header value: the string header and rounding;
//   - variantsOverhead per URL, for its variants record and map slot.
//
// Measured with many small entries carrying many short headers (the case
// where overheads dominate) and with small and kilobyte bodies, the live
// heap the cache holds is within 2× MaxBytes (TestMaxBytesBoundsLiveHeap
// checks it; the estimates put it near 1×).
const (
	entryOverhead = 512
	fieldOverhead = 48
	valueOverhead = 24
)

// headerBytes estimates the bytes the stored header h holds: what
// MaxEntryBytes and MaxBytes count for it.
func headerBytes(h http.Header) int64 {
	var n int64
	for k, v := range h {
		n += fieldOverhead + int64(len(k))
		for _, s := range v {
			n += valueOverhead + int64(len(s))
		}
	}
	return n
}
