package smartproxy

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// The values of the smartproxy directive's subdirectives, and its errors:
// a validation error at the line that caused it, an unknown subdirective
// with the nearest known one.

// validate runs the config package's rules; an error is placed at the line
// of the key it names or, when that key was not written (a missing
// required key), of its nearest written ancestor.
func (p *cfParser) validate(c *config.Config) error {
	err := c.Validate()
	if err == nil {
		return nil
	}
	var ce *config.Error
	path := ""
	if errors.As(err, &ce) {
		path = ce.Path
	}
	for {
		if tok, ok := p.at[path]; ok {
			return wrapAt(err, tok)
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return wrapAt(err, p.at[""])
		}
		path = path[:i]
	}
}

// wrapAt adds a token's file and line to err the way Dispenser.WrapErr
// does.
func wrapAt(err error, tok caddyfile.Token) error {
	return fmt.Errorf("%w, at %s:%d", err, tok.File, tok.Line)
}

// unknownSubdirective is the error for a subdirective that is not among
// known, with the nearest known one when it is close enough.
func unknownSubdirective(d *caddyfile.Dispenser, section string, known []string) error {
	msg := fmt.Sprintf("unrecognized subdirective %q", d.Val())
	if section != "" {
		msg = section + ": " + msg
	}
	if s := config.Nearest(d.Val(), known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (known: " + strings.Join(known, ", ") + ")"
	}
	return d.Err(msg)
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name := d.Val()
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	v, err := parseDuration(d.Val())
	if err != nil {
		return 0, d.Errf("%s: %v", name, err)
	}
	if d.NextArg() {
		return 0, d.ArgErr()
	}
	return caddy.Duration(v), nil
}

var durationType = reflect.TypeOf(caddy.Duration(0))

// parseDuration reads a duration in Caddy's syntax; a bare number is
// refused with the unit it needs, since `timeout 30` means seconds to most
// readers and nothing to ParseDuration.
func parseDuration(a string) (time.Duration, error) {
	d, err := caddy.ParseDuration(a)
	if err == nil {
		return d, nil
	}
	if _, nerr := strconv.ParseFloat(a, 64); nerr == nil {
		return 0, fmt.Errorf("bad duration %q: a duration needs a unit, e.g. %ss or %sms", a, a, a)
	}
	return 0, fmt.Errorf("bad duration %q: want a number and a unit (ns, us, ms, s, m, h, d), e.g. 30s or 1m30s", a)
}

// setField parses args into one field of a config section.
func setField(f reflect.Value, args []string) error {
	one := func() (string, error) {
		if len(args) != 1 {
			return "", fmt.Errorf("want one value, got %d", len(args))
		}
		return args[0], nil
	}
	switch {
	case f.Type() == durationType:
		a, err := one()
		if err != nil {
			return err
		}
		dur, err := parseDuration(a)
		if err != nil {
			return err
		}
		f.SetInt(int64(dur))
		return nil
	case f.Kind() == reflect.Pointer:
		p := reflect.New(f.Type().Elem())
		if err := setField(p.Elem(), args); err != nil {
			return err
		}
		f.Set(p)
		return nil
	case f.Kind() == reflect.Map:
		if len(args) != 2 {
			return fmt.Errorf("want a name and a value, got %d values", len(args))
		}
		if f.IsNil() {
			f.Set(reflect.MakeMap(f.Type()))
		}
		f.SetMapIndex(reflect.ValueOf(args[0]), reflect.ValueOf(args[1]))
		return nil
	case f.Kind() == reflect.Slice:
		if len(args) == 0 {
			return fmt.Errorf("want at least one value")
		}
		for _, a := range args {
			e := reflect.New(f.Type().Elem()).Elem()
			if err := setField(e, []string{a}); err != nil {
				return err
			}
			f.Set(reflect.Append(f, e))
		}
		return nil
	case f.Kind() == reflect.Bool:
		if len(args) == 0 {
			f.SetBool(true)
			return nil
		}
		a, err := one()
		if err != nil {
			return err
		}
		switch strings.ToLower(a) {
		case "on", "true", "yes":
			f.SetBool(true)
		case "off", "false", "no":
			f.SetBool(false)
		default:
			return fmt.Errorf("%q: want on or off", a)
		}
		return nil
	}
	a, err := one()
	if err != nil {
		return err
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(a)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", a)
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", a)
		}
		f.SetFloat(x)
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
	}
	return nil
}
