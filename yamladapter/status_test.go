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
		{"mapping", base + "status: {listen: x}\n", "", ErrType, "got a mapping", ""},
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
				len(srv.Routes) != 1 || len(srv.Routes[0].Handle) != 1 || len(srv.Routes[0].Handle[0]) != 1 ||
				srv.Routes[0].Handle[0]["handler"] != "smartproxy_status" {
				t.Fatalf("status server %+v, want one smartproxy_status handler on %s", srv, tc.listen)
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
