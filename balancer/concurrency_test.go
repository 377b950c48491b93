package balancer

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// pickerBox lets a test swap pickers under running picks, as the pool does.
type pickerBox struct{ p Picker }

// Many goroutines pick, acquire and release while another rebuilds the
// picker over changing sets; run with -race. Every pick must be a live
// backend, and in-flight counts must return to 0.
func TestConcurrentPicks(t *testing.T) {
	const (
		workers = 8
		picks   = 2000
	)
	for _, alg := range Names() {
		t.Run(alg, func(t *testing.T) {
			clk := newFakeClock(epoch)
			bs := makeBackends(t, 1, 2, 3, 1, 0)
			bs[3].MarkAvailable(clk.Now()) // ramping
			bal := mustNew(t, Config{Algorithm: alg, SlowStart: time.Minute, Now: clk.Now})
			var cur atomic.Pointer[pickerBox]
			cur.Store(&pickerBox{bal.Build(bs)})

			stop := make(chan struct{})
			var rebuilder sync.WaitGroup
			rebuilder.Go(func() {
				sets := [][]int{{0, 1, 2, 3, 4}, {0, 2}, {1, 2, 3}, {3}}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					set := sets[i%len(sets)]
					avail := make([]*backend.Backend, 0, len(set))
					for _, j := range set {
						avail = append(avail, bs[j])
					}
					cur.Store(&pickerBox{bal.Build(avail)})
					clk.Advance(time.Second)
				}
			})

			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Go(func() {
					r := requestWithKey("")
					for i := range picks {
						if i%3 != 0 {
							r.Header.Set("X-Key", fmt.Sprint(w, i%50))
						}
						b := cur.Load().p.Pick(r)
						if b == nil || b.Weight() == 0 {
							errs <- fmt.Errorf("worker %d pick %d: got %v", w, i, b)
							return
						}
						b.Acquire()
						b.ObserveLatency(time.Duration(1+i%7)*time.Millisecond, clk.Now())
						b.Release()
					}
				})
			}
			wg.Wait()
			close(stop)
			rebuilder.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for _, b := range bs {
				if n := b.InFlight(); n != 0 {
					t.Errorf("%s: %d in flight after all releases", b.Name, n)
				}
			}
		})
	}
}
