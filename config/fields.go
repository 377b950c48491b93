package config

import (
	"reflect"
	"strings"
	"sync"
)

// Field is one key of a config struct as encoding/json names it.
type Field struct {
	// Name is the JSON key: the json tag's name, or the Go name when the
	// tag gives none.
	Name string
	// Index is the field's index sequence for reflect.Value.FieldByIndex
	// (longer than one for a field of an embedded struct).
	Index []int
	// Type is the field's Go type.
	Type reflect.Type
}

var fieldCache sync.Map // reflect.Type -> []Field

// Fields lists the keys of the struct type t the way encoding/json reads
// them: fields tagged "-" and unexported fields are skipped, and untagged
// embedded structs (Route's Section) are flattened into their parent. It is
// the one walker the three front ends share: the Caddyfile directive, the
// yaml adapter and the strict JSON decoder all accept exactly these keys,
// so a field added to a config struct is a key everywhere at once. The
// result is cached and must not be modified.
func Fields(t reflect.Type) []Field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]Field)
	}
	fs := fieldsOf(t)
	fieldCache.Store(t, fs)
	return fs
}

func fieldsOf(t reflect.Type) []Field {
	var out []Field
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for _, sub := range fieldsOf(f.Type) {
				sub.Index = append([]int{i}, sub.Index...)
				out = append(out, sub)
			}
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, Field{Name: name, Index: []int{i}, Type: f.Type})
	}
	return out
}

// LookupField returns the field of fs named name.
func LookupField(fs []Field, name string) (Field, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FieldNames returns the fields' names in declaration order.
func FieldNames(fs []Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}
