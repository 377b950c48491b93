package yamladapter

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestStatusKey(t *testing.T) {
	const base = "backends: [{url: 'http://127.0.0.1:3001'}]\n"
	cases := []struct {
		name    string
		yaml    string
		listen  string // "" : no status server
		errKind error
		errText string
		warning string
	}{
		{"absent", base, "", nil, "", ""},
		{"off", base + "status: off\n", "", nil, "", ""},
		{"false", base + "status: false\n", "", nil, "", ""},
		{"loopback", base + "status: 127.0.0.1:2020\n", "127.0.0.1:2020", nil, "", ""},
		{"localhost", base + "status: localhost:2020\n", "localhost:2020", nil, "", ""},
		{"public", base + "status: 0.0.0.0:2020\n", "0.0.0.0:2020", nil, "", "not on a loopback address"},
		{"no port", base + "status: 127.0.0.1\n", "", ErrValue, `status: invalid value "127.0.0.1"`, ""},
		{"port range", base + "status: 127.0.0.1:2020-2030\n", "", ErrValue, "want a listen address", ""},
		{"unix", base + "status: unix//run/x.sock\n", "", ErrValue, "want a listen address", ""},
		{"number", base + "status: 2020\n", "", ErrType, "got the number 2020", ""},
		{"mapping", base + "status: {listen: 127.0.0.1:2020}\n", "127.0.0.1:2020", nil, "", ""},
		{"controls", base + "status: {listen: 127.0.0.1:2020, controls: true}\n", "127.0.0.1:2020", nil, "", ""},
		{"controls off", base + "status: {listen: 127.0.0.1:2020, controls: false}\n", "127.0.0.1:2020", nil, "", ""},
		{"mapping bad listen", base + "status: {listen: x}\n", "", ErrValue, `status.listen: invalid value "x"`, ""},
		{"mapping without listen", base + "status: {controls: true}\n", "", ErrValue, "status.listen: invalid value: required", ""},
		{"controls not a bool", base + "status: {listen: 127.0.0.1:2020, controls: yes please}\n", "", ErrType, "status.controls: wrong type: want true or false", ""},
		{"mapping typo", base + "status: {listen: 127.0.0.1:2020, control: true}\n", "", ErrUnknownKey, `did you mean "controls"`, ""},
		{"public mapping", base + "status: {listen: 0.0.0.0:2020}\n", "0.0.0.0:2020", nil, "", "not on a loopback address"},
		{"proxy port", base + "server: {port: 2020}\nstatus: 127.0.0.1:2020\n", "", ErrValue, "port 2020 is server.port's", ""},
		{"typo", base + "stauts: off\n", "", ErrUnknownKey, `did you mean "status"`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, warns, err := Adapter{}.Adapt([]byte(tc.yaml), nil)
			if tc.errKind != nil {
				if !errors.Is(err, tc.errKind) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want %v containing %q", err, tc.errKind, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Apps struct {
					HTTP struct {
						Servers map[string]struct {
							Listen []string
							Routes []struct{ Handle []map[string]any }
						}
					}
				}
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			srv, ok := cfg.Apps.HTTP.Servers[StatusServerName]
			if tc.listen == "" {
				if ok {
					t.Fatalf("status server made: %s", out)
				}
				return
			}
			if !ok || len(srv.Listen) != 1 || srv.Listen[0] != tc.listen ||
				len(srv.Routes) != 1 || len(srv.Routes[0].Handle) != 1 ||
				srv.Routes[0].Handle[0]["handler"] != "smartproxy_status" {
				t.Fatalf("status server %+v, want one smartproxy_status handler on %s", srv, tc.listen)
			}
			// controls only where the file asks for them.
			want := strings.Contains(tc.yaml, "controls: true")
			if got, _ := srv.Routes[0].Handle[0]["controls"].(bool); got != want || len(srv.Routes[0].Handle[0]) != 1+btoi(want) {
				t.Fatalf("status handler %v, want controls %v", srv.Routes[0].Handle[0], want)
			}
			found := false
			for _, w := range warns {
				if tc.warning != "" && strings.Contains(w.Message, tc.warning) && w.Directive == "status" && w.Line > 0 {
					found = true
				}
			}
			if (tc.warning != "") != found {
				t.Fatalf("warnings %+v, want one saying %q", warns, tc.warning)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
