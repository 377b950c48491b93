package yamladapter

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddyserver/caddy/v2"
	"gopkg.in/yaml.v3"
)

// A type shaped like a future config section: decode must accept any
// json-tagged field without the adapter knowing it.
type inner struct {
	Name string `json:"name"`
}

type embedded struct {
	Shared int `json:"shared,omitempty"`
}

type future struct {
	embedded
	Count    *int              `json:"count,omitempty"`
	On       *bool             `json:"on,omitempty"`
	Ratio    float64           `json:"ratio,omitempty"`
	Size     uint16            `json:"size,omitempty"`
	Big      int64             `json:"big,omitempty"`
	Wait     caddy.Duration    `json:"wait,omitempty"`
	Codes    []int             `json:"codes,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Inner    *inner            `json:"inner,omitempty"`
	Items    []inner           `json:"items,omitempty"`
	Untagged string
	Skipped  string `json:"-"`
	hidden   string
}

func decodeString(t *testing.T, in string, v any) error {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(in), &doc); err != nil {
		t.Fatal(err)
	}
	w := newWalker("t.yaml", []byte(in))
	return w.decode(doc.Content[0], reflect.ValueOf(v).Elem(), "")
}

func TestDecodeByJSONTags(t *testing.T) {
	in := `
shared: 7
count: 0
on: false
ratio: 0.75
size: 65535
big: 0x10
wait: 1m30s
codes: [500, 502]
headers: {A: x, B: "2"}
inner:
items:
  - name: one
  - name: 2
Untagged: yes
`
	var got future
	if err := decodeString(t, in, &got); err != nil {
		t.Fatal(err)
	}
	zero, no := 0, false
	want := future{
		embedded: embedded{Shared: 7}, Count: &zero, On: &no, Ratio: 0.75, Size: 65535, Big: 16,
		Wait: caddy.Duration(90 * time.Second), Codes: []int{500, 502},
		Headers: map[string]string{"A": "x", "B": "2"}, Inner: &inner{},
		Items: []inner{{"one"}, {"2"}}, Untagged: "yes",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if f := config.FieldNames(config.Fields(reflect.TypeFor[future]())); !reflect.DeepEqual(f, []string{
		"shared", "count", "on", "ratio", "size", "big", "wait", "codes", "headers", "inner", "items", "Untagged",
	}) {
		t.Errorf("fields = %v", f)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in, path string
		is             error
	}{
		{"unsigned overflow", "size: 65536", "size", ErrValue},
		{"negative unsigned", "size: -1", "size", ErrValue},
		{"skipped field is unknown", "Skipped: x", "", ErrUnknownKey},
		{"unexported field is unknown", "hidden: x", "", ErrUnknownKey},
		{"map value type", "headers: {A: [1]}", "headers.A", ErrType},
		{"list element", "codes: [500, x]", "codes[1]", ErrType},
		{"nested list element", "items: [{name: a}, {nme: b}]", "", ErrUnknownKey},
		{"null pointer to int", "count:", "count", ErrType},
		{"duration as a float", "wait: 1.5", "wait", ErrDuration},
		{"duration as a bool", "wait: true", "wait", ErrType},
		{"headers as a list", "headers: [a]", "headers", ErrType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v future
			err := decodeString(t, tc.in, &v)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tc.is) || e.Path != tc.path || e.Line != 1 {
				t.Errorf("err = %v (path %q), want %v at path %q line 1", err, pathOf(e), tc.is, tc.path)
			}
		})
	}
}

func pathOf(e *Error) string {
	if e == nil {
		return "<nil>"
	}
	return e.Path
}

func TestDurationZero(t *testing.T) {
	for _, in := range []string{"wait: 0", "wait: 0.0", `wait: "0s"`, "wait: 0ms"} {
		v := future{Wait: 5}
		if err := decodeString(t, in, &v); err != nil || v.Wait != 0 {
			t.Errorf("%s: %v %v", in, v.Wait, err)
		}
	}
}
