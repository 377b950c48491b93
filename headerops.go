package smartproxy

import (
	"net/http"
	"sort"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// headerOps are one direction's header changes (config.HeaderOps),
// compiled when the config loads: canonical names, parsed placeholder
// templates, a fixed order. nil does nothing.
type headerOps struct {
	add, set []headerOp
	del      []string
}

type headerOp struct {
	name string // canonical
	val  template
}

func newHeaderOps(o *config.HeaderOps) *headerOps {
	if o == nil || len(o.Add)+len(o.Set)+len(o.Delete) == 0 {
		return nil
	}
	compile := func(m map[string]string) []headerOp {
		out := make([]headerOp, 0, len(m))
		for k, v := range m {
			out = append(out, headerOp{name: http.CanonicalHeaderKey(k), val: parseTemplate(v)})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
		return out
	}
	ops := &headerOps{add: compile(o.Add), set: compile(o.Set)}
	for _, k := range o.Delete {
		ops.del = append(ops.del, http.CanonicalHeaderKey(k))
	}
	return ops
}

// apply changes h in Caddy's order: add, set, delete. An added value is
// appended to a copy of the field's values: the outbound request shares
// its value slices with the client's request.
func (ops *headerOps) apply(h http.Header, repl *caddy.Replacer) {
	for _, op := range ops.add {
		old := h[op.name]
		vv := make([]string, len(old), len(old)+1)
		copy(vv, old)
		h[op.name] = append(vv, op.val.expand(repl))
	}
	for _, op := range ops.set {
		h[op.name] = op.val.values(repl)
	}
	for _, k := range ops.del {
		delete(h, k)
	}
}
