package yamladapter

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// format is the kind of file.
type format int

const (
	unknownFormat format = iota
	proxyFormat          // the seed's format, for the smartproxy handler
	caddyFormat          // Caddy's own JSON config, written in YAML
)

// format tells the kind of file by its top-level keys. Keys of only one
// kind decide it; admin and logging, which both kinds have, decide by
// their value: a scalar (`admin: off`, `logging: info`) is the smartproxy
// format, a mapping is Caddy's. A file with no deciding key is read as the
// smartproxy format, after checking it has no unknown key (suggesting from
// both kinds' keys, since the kind is not known).
func (w *walker) format(ps []pair) (format, error) {
	var first pair
	kind := unknownFormat
	for _, p := range ps {
		k := w.classify(p)
		switch {
		case k == unknownFormat:
		case kind == unknownFormat:
			kind, first = k, p
		case k != kind:
			return 0, w.errAt(p.key, "", errf(ErrMixed, "(%s is %s, but %s at line %d is %s: a file is one or the other)",
				w.spell(p), kindName(k), w.spell(first), first.key.Line, kindName(kind)))
		}
	}
	if kind != unknownFormat {
		return kind, nil
	}
	all := append([]string(nil), proxyKeys...)
	for _, k := range caddyKeys {
		if lookupName(all, k) < 0 {
			all = append(all, k)
		}
	}
	for _, p := range ps {
		k := p.key.Value
		if lookupName(proxyKeys, k) < 0 && lookupName(caddyKeys, k) < 0 && k != "timeout" {
			return 0, w.errAt(p.key, "", unknownKey(k, where(""), all))
		}
	}
	return proxyFormat, nil
}

// classify tells which kind a top-level entry belongs to.
func (w *walker) classify(p pair) format {
	k := p.key.Value
	inProxy := lookupName(proxyKeys, k) >= 0 || k == "timeout"
	inCaddy := lookupName(caddyKeys, k) >= 0
	switch {
	case inProxy && inCaddy:
		v := p.value
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		switch {
		case v.Kind == yaml.MappingNode:
			return caddyFormat
		case v.Kind == yaml.ScalarNode && !isNull(v):
			return proxyFormat
		}
	case inProxy:
		return proxyFormat
	case inCaddy:
		return caddyFormat
	}
	return unknownFormat
}

// spell names a top-level entry for the mixed-formats message.
func (w *walker) spell(p pair) string {
	k := p.key.Value
	if lookupName(proxyKeys, k) >= 0 && lookupName(caddyKeys, k) >= 0 {
		v := p.value
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if v.Kind == yaml.MappingNode {
			return fmt.Sprintf("%q as a mapping", k)
		}
		return fmt.Sprintf("%q as a single value", k)
	}
	return fmt.Sprintf("%q", k)
}

func kindName(k format) string {
	if k == caddyFormat {
		return "Caddy's own config"
	}
	return "the smartproxy format"
}
