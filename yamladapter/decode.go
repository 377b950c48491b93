package yamladapter

import (
	"fmt"
	"math"
	"reflect"
	"regexp"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddyserver/caddy/v2"
	"gopkg.in/yaml.v3"
)

// The smartproxy format is decoded by walking the YAML nodes against the
// Go types of the config package, by their json tags (config.Fields, the
// walker the JSON decoder and the Caddyfile directive use too), so a field
// added there is accepted here without touching the adapter.

var durationType = reflect.TypeFor[caddy.Duration]()

// wholeNumber matches an integer too large for YAML's !!int, which yaml.v3
// then resolves as a float.
var wholeNumber = regexp.MustCompile(`^[-+]?[0-9_]+$`)

// decode stores the YAML node n into v, whose key path is path.
func (w *walker) decode(n *yaml.Node, v reflect.Value, path string) error {
	n, err := w.enter(n, path)
	if err != nil {
		return err
	}
	defer w.leave(n)
	w.nodes[path] = n
	return w.value(n, v, path)
}

// value stores the (entered) node n into v.
func (w *walker) value(n *yaml.Node, v reflect.Value, path string) error {
	if v.Type() == durationType {
		return w.duration(n, v, path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if !isNull(n) || p.Elem().Kind() != reflect.Struct {
			// An empty section (`health_check:`) turns it on with its
			// defaults; any other empty value is an error below.
			if err := w.value(n, p.Elem(), path); err != nil {
				return err
			}
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		return w.structure(n, v, path, config.Fields(v.Type()))
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return w.errAt(n, path, errf(ErrType, ": want a list, got %s", describe(n)))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := w.decode(item, s.Index(i), index(path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		return w.mapping(n, v, path)
	}
	return w.scalar(n, v, path)
}

// structure decodes a mapping into the struct v, refusing unknown keys.
func (w *walker) structure(n *yaml.Node, v reflect.Value, path string, fs []config.Field) error {
	if n.Kind != yaml.MappingNode {
		return w.errAt(n, path, errf(ErrType, ": want a mapping, got %s", describe(n)))
	}
	ps, err := w.pairs(n, path)
	if err != nil {
		return err
	}
	for _, p := range ps {
		f, ok := config.LookupField(fs, p.key.Value)
		if !ok {
			return w.errAt(p.key, "", unknownKey(p.key.Value, where(path), config.FieldNames(fs)))
		}
		if err := w.decode(p.value, v.FieldByIndex(f.Index), join(path, f.Name)); err != nil {
			return err
		}
	}
	return nil
}

// mapping decodes a mapping with string keys (e.g. headers).
func (w *walker) mapping(n *yaml.Node, v reflect.Value, path string) error {
	if v.Type().Key().Kind() != reflect.String {
		return w.errAt(n, path, fmt.Errorf("unsupported field type %s", v.Type()))
	}
	if n.Kind != yaml.MappingNode {
		return w.errAt(n, path, errf(ErrType, ": want a mapping, got %s", describe(n)))
	}
	ps, err := w.pairs(n, path)
	if err != nil {
		return err
	}
	m := reflect.MakeMapWithSize(v.Type(), len(ps))
	for _, p := range ps {
		val := reflect.New(v.Type().Elem()).Elem()
		if err := w.decode(p.value, val, join(path, p.key.Value)); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), val)
	}
	v.Set(m)
	return nil
}

// scalar decodes a string, number or boolean. Strings accept any plain
// scalar but booleans and nulls (so `expect_status: 200` works); numbers
// and booleans must be written as such, never quoted.
func (w *walker) scalar(n *yaml.Node, v reflect.Value, path string) error {
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode {
		tag = ""
	}
	switch v.Kind() {
	case reflect.String:
		switch tag {
		case "!!str", "!!int", "!!float", "!!timestamp":
			v.SetString(n.Value)
			return nil
		}
		return w.errAt(n, path, errf(ErrType, ": want a string, got %s (quote it if it is meant as text)", describe(n)))
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			return w.errAt(n, path, errf(ErrType, ": want true or false, got %s", describe(n)))
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag == "!!float" && wholeNumber.MatchString(n.Value) {
			return w.errAt(n, path, errf(ErrValue, "%s: integer out of range", n.Value))
		}
		if tag != "!!int" {
			return w.errAt(n, path, errf(ErrType, ": want an integer, got %s", describe(n)))
		}
		if n.Decode(&i) != nil || v.OverflowInt(i) {
			return w.errAt(n, path, errf(ErrValue, "%s: integer out of range", n.Value))
		}
		v.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if tag != "!!int" {
			return w.errAt(n, path, errf(ErrType, ": want an integer, got %s", describe(n)))
		}
		if n.Decode(&u) != nil || v.OverflowUint(u) {
			return w.errAt(n, path, errf(ErrValue, "%s: integer out of range", n.Value))
		}
		v.SetUint(u)
		return nil
	case reflect.Float32, reflect.Float64:
		var f float64
		if (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			return w.errAt(n, path, errf(ErrType, ": want a number, got %s", describe(n)))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || v.OverflowFloat(f) {
			return w.errAt(n, path, errf(ErrValue, "%s: want a finite number", n.Value))
		}
		v.SetFloat(f)
		return nil
	}
	return w.errAt(n, path, fmt.Errorf("unsupported field type %s", v.Type()))
}

// duration decodes a caddy.Duration. It takes a string in Caddy's syntax
// (`30s`, `1m30s`, `1d`); a bare number other than 0 is refused, because
// YAML users mean seconds where Caddy's JSON means nanoseconds.
func (w *walker) duration(n *yaml.Node, v reflect.Value, path string) error {
	tag := n.ShortTag()
	if n.Kind == yaml.ScalarNode && (tag == "!!int" || tag == "!!float") {
		var f float64
		if n.Decode(&f) == nil && f == 0 {
			v.SetInt(0)
			return nil
		}
		return w.errAt(n, path, errf(ErrDuration, "%s: a duration needs a unit, e.g. \"%ss\" or \"%sms\"", n.Value, n.Value, n.Value))
	}
	if n.Kind != yaml.ScalarNode || tag != "!!str" {
		return w.errAt(n, path, errf(ErrType, ": want a duration such as \"30s\", got %s", describe(n)))
	}
	d, err := caddy.ParseDuration(n.Value)
	if err != nil {
		return w.errAt(n, path, errf(ErrDuration, "%q: want a number and a unit (ns, us, ms, s, m, h, d), e.g. \"30s\" or \"1m30s\"", n.Value))
	}
	v.SetInt(int64(d))
	return nil
}
