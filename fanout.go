package smartproxy

import "sync"

// fanout is the subscribers of one piece of shared state whose own hook is
// fixed when it is made (a breaker's state changes, a discovery watcher's
// answers), while the configs that want to hear of it come and go with
// reloads. The zero value has no subscribers.
type fanout[S any] struct {
	mu   sync.Mutex
	subs map[*S]struct{}
}

// subscribe adds s; the returned function removes it again.
func (f *fanout[S]) subscribe(s *S) (unsubscribe func()) {
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*S]struct{})
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
	}
}

// each calls fn for every subscriber, outside the lock, so fn may
// subscribe or unsubscribe.
func (f *fanout[S]) each(fn func(*S)) {
	f.mu.Lock()
	subs := make([]*S, 0, len(f.subs))
	for s := range f.subs {
		subs = append(subs, s)
	}
	f.mu.Unlock()
	for _, s := range subs {
		fn(s)
	}
}
