package yamladapter

import (
	"math"
	"reflect"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddyserver/caddy/v2"
	"gopkg.in/yaml.v3"
)

// caddyKeys lists the top-level keys of Caddy's own config (admin,
// logging, storage, apps), read from caddy.Config so a key Caddy adds is
// known here too.
var caddyKeys = config.FieldNames(config.Fields(reflect.TypeFor[caddy.Config]()))

// passthrough converts a file written as Caddy's JSON config in YAML to a
// JSON-ready value: mappings become objects, lists arrays, and scalars keep
// their YAML type. Only the top-level keys are checked here; Caddy checks
// the rest when it loads the config.
func (w *walker) passthrough(top []pair) (map[string]any, error) {
	out := make(map[string]any, len(top))
	for _, p := range top {
		if lookupName(caddyKeys, p.key.Value) < 0 {
			return nil, w.errAt(p.key, "", unknownKey(p.key.Value, "Caddy's config", caddyKeys))
		}
		v, err := w.toJSON(p.value, p.key.Value)
		if err != nil {
			return nil, err
		}
		out[p.key.Value] = v
	}
	return out, nil
}

func lookupName(list []string, name string) int {
	for i, s := range list {
		if s == name {
			return i
		}
	}
	return -1
}

// toJSON converts one node to a value encoding/json writes as the same
// structure: map[string]any, []any, string, int64, uint64, float64, bool
// or nil.
func (w *walker) toJSON(n *yaml.Node, path string) (any, error) {
	n, err := w.enter(n, path)
	if err != nil {
		return nil, err
	}
	defer w.leave(n)
	switch n.Kind {
	case yaml.MappingNode:
		ps, err := w.pairs(n, path)
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(ps))
		for _, p := range ps {
			v, err := w.toJSON(p.value, join(path, p.key.Value))
			if err != nil {
				return nil, err
			}
			m[p.key.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := w.toJSON(item, index(path, i))
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	case yaml.ScalarNode:
		return w.scalarJSON(n, path)
	}
	return nil, w.errAt(n, path, errf(ErrType, ": unexpected %s", describe(n)))
}

// scalarJSON converts a scalar by its resolved tag. Timestamps and binary
// stay the text written; JSON has no infinities or NaN, so those are
// refused, as are tags JSON cannot express.
func (w *walker) scalarJSON(n *yaml.Node, path string) (any, error) {
	switch n.ShortTag() {
	case "!!str", "!!timestamp", "!!binary":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, w.errAt(n, path, errf(ErrType, ": want true or false, got %s", describe(n)))
		}
		return b, nil
	case "!!int":
		var i int64
		if n.Decode(&i) == nil {
			return i, nil
		}
		var u uint64
		if n.Decode(&u) == nil {
			return u, nil
		}
		return nil, w.errAt(n, path, errf(ErrValue, "%s: integer out of range", n.Value))
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, w.errAt(n, path, errf(ErrValue, "%s: JSON has no such number", n.Value))
		}
		return f, nil
	}
	return nil, w.errAt(n, path, errf(ErrType, ": %s cannot be written in JSON", describe(n)))
}
