package config

import (
	"reflect"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// MinDuration is the shortest duration any key accepts, other than 0 (the
// default). Nothing in the config means anything below a millisecond, and
// a shorter value is nearly always a JSON number read as nanoseconds:
// `"timeout": 30` is 30ns, which fails every request.
const MinDuration = time.Millisecond

var durationType = reflect.TypeFor[caddy.Duration]()

// validateDurations checks every duration of the section v (a struct, with
// its sub-sections, lists and pointers) at path p: none may be negative or
// between 0 and MinDuration. It walks the json keys (Fields), so a duration
// added to any section is covered.
func validateDurations(v reflect.Value, p string) error {
	switch {
	case v.Type() == durationType:
		d := time.Duration(v.Int())
		switch {
		case d < 0:
			return errAt(p, "%v: must not be negative", d)
		case d > 0 && d < MinDuration:
			return errAt(p, "%v: less than %v; a JSON number counts nanoseconds, so write a string such as \"%ds\" or \"%dms\"",
				d, MinDuration, v.Int(), v.Int())
		}
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			return validateDurations(v.Elem(), p)
		}
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			if err := validateDurations(v.Index(i), p+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case v.Kind() == reflect.Struct:
		for _, f := range Fields(v.Type()) {
			if err := validateDurations(v.FieldByIndex(f.Index), join(p, f.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// join appends key to the path p.
func join(p, key string) string {
	if p == "" {
		return key
	}
	return p + "." + key
}
