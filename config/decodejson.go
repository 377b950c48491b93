package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"

	"github.com/caddyserver/caddy/v2"
)

// Sentinels of DecodeJSON's errors (besides ErrUnknownKey), each wrapped by
// the Err of an *Error that names the key.
var (
	// ErrSyntax: the input is not well-formed JSON.
	ErrSyntax = errors.New("invalid json")
	// ErrDuplicateKey: an object has the same key twice.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrType: a value has the wrong JSON type.
	ErrType = errors.New("wrong type")
	// ErrDuration: a duration string that Caddy's ParseDuration does not
	// read.
	ErrDuration = errors.New("invalid duration")
)

// DecodeJSON decodes the handler's JSON into c strictly, the way the yaml
// adapter decodes YAML: an unknown key is an error that suggests the
// nearest known key, a duplicate key is an error, and a value of the wrong
// type is an error that names the key path and the value as written
// (`routes[0].backends[1].weight: wrong type: want an integer, got string
// "2"`), not Go's types. Durations are strings in Caddy's syntax ("30s",
// "1m30s", "1d") or integers of nanoseconds, as Caddy's own JSON has them.
// null leaves a key unset. Every error is an *Error; on error c is left as
// it was, nothing half-applied. DecodeJSON does not run Validate.
func DecodeJSON(data []byte, c *Config) error {
	d := &jsonDecoder{dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	var out Config
	if err := d.value(reflect.ValueOf(&out).Elem(), ""); err != nil {
		return err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return &Error{Err: fmt.Errorf("%w: more data after the handler's object (offset %d)", ErrSyntax, d.dec.InputOffset())}
	}
	*c = out
	return nil
}

type jsonDecoder struct{ dec *json.Decoder }

// token reads the next token; a syntax error names its offset.
func (d *jsonDecoder) token(path string) (json.Token, error) {
	t, err := d.dec.Token()
	if err == nil {
		return t, nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return nil, &Error{Path: path, Err: fmt.Errorf("%w: %v (offset %d)", ErrSyntax, se, se.Offset)}
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, &Error{Path: path, Err: fmt.Errorf("%w: %v (offset %d)", ErrSyntax, err, d.dec.InputOffset())}
}

// value decodes the next JSON value into v, whose key path is path.
func (d *jsonDecoder) value(v reflect.Value, path string) error {
	t, err := d.token(path)
	if err != nil {
		return err
	}
	return d.assign(t, v, path)
}

// assign stores the value that starts with token t into v.
func (d *jsonDecoder) assign(t json.Token, v reflect.Value, path string) error {
	if t == nil {
		if v.Kind() == reflect.Pointer || v.Kind() == reflect.Map || v.Kind() == reflect.Slice {
			v.Set(reflect.Zero(v.Type()))
		}
		return nil // null leaves the key unset, as with encoding/json
	}
	if v.Type() == durationType {
		return d.duration(t, v, path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := d.assign(t, p.Elem(), path); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		if t != json.Delim('{') {
			return typeErr(path, "an object", t)
		}
		return d.object(v, path)
	case reflect.Map:
		if t != json.Delim('{') {
			return typeErr(path, "an object", t)
		}
		return d.mapping(v, path)
	case reflect.Slice:
		if t != json.Delim('[') {
			return typeErr(path, "a list", t)
		}
		s := reflect.MakeSlice(v.Type(), 0, 4)
		for i := 0; d.dec.More(); i++ {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := d.value(e, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
			s = reflect.Append(s, e)
		}
		if _, err := d.token(path); err != nil { // ']'
			return err
		}
		v.Set(s)
		return nil
	}
	return scalar(t, v, path)
}

// object decodes an object (its '{' read) into the struct v.
func (d *jsonDecoder) object(v reflect.Value, path string) error {
	fs := Fields(v.Type())
	seen := make(map[string]bool, len(fs))
	for d.dec.More() {
		t, err := d.token(path)
		if err != nil {
			return err
		}
		key := t.(string) // inside an object, Token returns keys as strings
		f, ok := LookupField(fs, key)
		if !ok {
			return &Error{Err: UnknownKey(key, Where(path), FieldNames(fs))}
		}
		p := join(path, key)
		if seen[key] {
			return &Error{Path: p, Err: fmt.Errorf("%w: %q is given twice in %s", ErrDuplicateKey, key, Where(path))}
		}
		seen[key] = true
		if err := d.value(v.FieldByIndex(f.Index), p); err != nil {
			return err
		}
	}
	_, err := d.token(path) // '}'
	return err
}

// mapping decodes an object (its '{' read) into the map v, string keys.
func (d *jsonDecoder) mapping(v reflect.Value, path string) error {
	if v.Type().Key().Kind() != reflect.String {
		return &Error{Path: path, Err: fmt.Errorf("unsupported field type %s", v.Type())}
	}
	m := reflect.MakeMap(v.Type())
	for d.dec.More() {
		t, err := d.token(path)
		if err != nil {
			return err
		}
		key := t.(string)
		p := join(path, key)
		if m.MapIndex(reflect.ValueOf(key).Convert(v.Type().Key())).IsValid() {
			return &Error{Path: p, Err: fmt.Errorf("%w: %q is given twice in %s", ErrDuplicateKey, key, Where(path))}
		}
		e := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(e, p); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), e)
	}
	if _, err := d.token(path); err != nil {
		return err
	}
	v.Set(m)
	return nil
}

// duration decodes a caddy.Duration: a string in Caddy's syntax or an
// integer of nanoseconds (Validate refuses one below MinDuration).
func (d *jsonDecoder) duration(t json.Token, v reflect.Value, path string) error {
	switch x := t.(type) {
	case string:
		dur, err := caddy.ParseDuration(x)
		if err != nil {
			return &Error{Path: path, Err: fmt.Errorf("%w: %q: want a number and a unit (ns, us, ms, s, m, h, d), e.g. \"30s\" or \"1m30s\"", ErrDuration, x)}
		}
		v.SetInt(int64(dur))
		return nil
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return &Error{Path: path, Err: fmt.Errorf("%w: %s: want a string such as \"30s\" (a number counts whole nanoseconds)", ErrDuration, clip(string(x)))}
		}
		v.SetInt(n)
		return nil
	}
	return typeErr(path, `a duration such as "30s"`, t)
}

// scalar stores a string, number or boolean token into v.
func scalar(t json.Token, v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.String:
		s, ok := t.(string)
		if !ok {
			return typeErr(path, "a string", t)
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		b, ok := t.(bool)
		if !ok {
			return typeErr(path, "true or false", t)
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := t.(json.Number)
		if !ok {
			return typeErr(path, "an integer", t)
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v.OverflowInt(i) {
			if f, ferr := strconv.ParseFloat(string(n), 64); (ferr == nil && f == math.Trunc(f)) || errors.Is(ferr, strconv.ErrRange) {
				return &Error{Path: path, Err: fmt.Errorf("%w: %s: integer out of range", ErrType, clip(string(n)))}
			}
			return typeErr(path, "an integer", t)
		}
		v.SetInt(i)
		return nil
	case reflect.Float32, reflect.Float64:
		n, ok := t.(json.Number)
		if !ok {
			return typeErr(path, "a number", t)
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || v.OverflowFloat(f) {
			return &Error{Path: path, Err: fmt.Errorf("%w: %s: number out of range", ErrType, clip(string(n)))}
		}
		v.SetFloat(f)
		return nil
	}
	return &Error{Path: path, Err: fmt.Errorf("unsupported field type %s", v.Type())}
}

// typeErr is the error for a value of the wrong JSON type.
func typeErr(path, want string, t json.Token) *Error {
	return &Error{Path: path, Err: fmt.Errorf("%w: want %s, got %s", ErrType, want, describeJSON(t))}
}

// describeJSON names a JSON value by its first token, the way a user
// wrote it.
func describeJSON(t json.Token) string {
	switch x := t.(type) {
	case json.Delim:
		if x == '{' {
			return "an object"
		}
		return "a list"
	case string:
		return "string " + strconv.Quote(clip(x))
	case json.Number:
		return "number " + clip(string(x))
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case nil:
		return "null"
	}
	return fmt.Sprint(t)
}

// clip shortens a value for a message: a hostile config may hold a
// megabyte-long string or number, and an error need not echo it whole.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
