package smartproxy

import "github.com/prometheus/client_golang/prometheus"

// capsDescs are the metrics of the in-flight caps and the queue, read at
// scrape time from the route's shared queue (queue.go) like the other
// state metrics; a route without caps has none of them.
type capsDescs struct {
	maxRequests, queueLength, queued, queueTimeouts, queueRejected, queueCanceled, queueWait *prometheus.Desc
}

func newCapsDescs(d func(name, help string, labels ...string) *prometheus.Desc) capsDescs {
	return capsDescs{
		maxRequests:   d("backend_max_requests", "The backend's in-flight cap (max_requests).", "route", "backend"),
		queueLength:   d("queue_length", "Requests waiting for a backend below its max_requests.", "route"),
		queued:        d("queued_total", "Requests that waited in the queue.", "route"),
		queueTimeouts: d("queue_timeouts_total", "Queued requests answered 503 after the queue timeout.", "route"),
		queueRejected: d("queue_rejected_total", "Requests answered 503 at once: every backend at its cap and the queue full (or none).", "route"),
		queueCanceled: d("queue_canceled_total", "Queued requests whose client went away.", "route"),
		queueWait:     d("queue_wait_seconds_total", "Total time waited by queued requests that got a backend.", "route"),
	}
}

func (c capsDescs) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxRequests, c.queueLength, c.queued, c.queueTimeouts, c.queueRejected, c.queueCanceled, c.queueWait} {
		ch <- d
	}
}

// caps reports rt's queue.
func (v metricsView) caps(rt *route) {
	s := rt.caps.status()
	if s == nil {
		return
	}
	c := v.c.caps
	v.gauge(c.queueLength, float64(s.Length), rt.name)
	v.counter(c.queued, float64(s.Queued), rt.name)
	v.counter(c.queueTimeouts, float64(s.TimedOut), rt.name)
	v.counter(c.queueRejected, float64(s.Rejected), rt.name)
	v.counter(c.queueCanceled, float64(s.Canceled), rt.name)
	v.counter(c.queueWait, s.WaitMS/1000, rt.name)
}
