package caddymain

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/caddy-smartproxy/smartproxy/examples"
)

// The product description's front door, mapped onto Caddy's command line:
//
//	proxy                     run ./config.yaml, or the built-in examples/config.yaml
//	proxy -config FILE        run FILE, the adapter chosen by its name
//	proxy --config FILE ...   the same (also -config=FILE, --config=FILE);
//	                          what follows FILE goes to `caddy run` (--watch, ...)
//	proxy COMMAND ...         Caddy's own command line, unchanged
//
// FILE's name picks the adapter: .yaml and .yml are `yaml`, .json is
// Caddy's JSON, and a name that is Caddyfile, starts with "Caddyfile" or
// ends in .caddyfile (any case) is `caddyfile`. Any other name is refused:
// `proxy run --config FILE --adapter NAME` names the adapter itself.

// DefaultConfig is the file `proxy` runs when given no arguments, looked
// up in the working directory; when it is not there, the built-in copy of
// examples/config.yaml (the seed's configuration) runs instead. Caddy
// reads the built-in copy from standard input (`run --config -`), so
// SIGUSR1, which re-reads the file a config came from, finds nothing and
// keeps the running config (Caddy logs the error); POST /load and a
// config.yaml on disk reload as usual.
const DefaultConfig = "config.yaml"

// Errors of the front door.
var (
	// ErrNoConfigFile: -config without a file name.
	ErrNoConfigFile = errors.New("-config needs a file name")
	// ErrUnknownFormat: -config names a file whose format its name does
	// not tell.
	ErrUnknownFormat = errors.New("cannot tell the config format from the file name")
)

// plan is what the front door hands to Caddy.
type plan struct {
	args []string // Caddy's command line, without the program name
	// body, when set, is the config Caddy reads from standard input
	// (`--config -`): the built-in default.
	body []byte
	// file names the config for the start message; empty when the
	// command line is Caddy's own and passed through.
	file string
	// adapter is the adapter args name, or "" for Caddy's JSON.
	adapter string
	// why says how file was chosen, for the start message.
	why string
}

// front reads the seed's command line (without the program name); exists
// tells whether a file is in the working directory.
func front(args []string, exists func(string) bool) (plan, error) {
	if len(args) == 0 {
		if exists(DefaultConfig) {
			return plan{
				args: []string{"run", "--config", DefaultConfig, "--adapter", "yaml"},
				file: DefaultConfig, adapter: "yaml",
				why: "the default configuration, from the working directory",
			}, nil
		}
		return plan{
			args: []string{"run", "--config", "-", "--adapter", "yaml"},
			body: examples.ConfigYAML, file: "examples/config.yaml", adapter: "yaml",
			why: "the default configuration, built in: no " + DefaultConfig + " in the working directory",
		}, nil
	}
	file, rest, ok := configFlag(args)
	if !ok {
		return plan{args: args}, nil
	}
	if file == "" {
		return plan{}, ErrNoConfigFile
	}
	adapter, err := adapterFor(file)
	if err != nil {
		return plan{}, err
	}
	run := []string{"run", "--config", file}
	if adapter != "" {
		run = append(run, "--adapter", adapter)
	}
	return plan{args: append(run, rest...), file: file, adapter: adapter, why: "given with -config"}, nil
}

// configFlag reports whether args start with -config or --config, with
// the file name (empty when missing) and the arguments after it.
func configFlag(args []string) (file string, rest []string, ok bool) {
	name, value, hasValue := strings.Cut(args[0], "=")
	if name != "-config" && name != "--config" {
		return "", nil, false
	}
	if hasValue {
		return value, args[1:], true
	}
	if len(args) < 2 || strings.HasPrefix(args[1], "-") {
		return "", nil, true
	}
	return args[1], args[2:], true
}

// adapterFor picks the config adapter by the file's name: "" is Caddy's
// JSON.
func adapterFor(file string) (string, error) {
	base := strings.ToLower(filepath.Base(file))
	switch filepath.Ext(base) {
	case ".yaml", ".yml":
		return "yaml", nil
	case ".json":
		return "", nil
	case ".caddyfile":
		return "caddyfile", nil
	}
	if strings.HasPrefix(base, "caddyfile") {
		return "caddyfile", nil
	}
	return "", fmt.Errorf("%w: %s (want .yaml, .yml, .json, Caddyfile or .caddyfile; or run `proxy run --config %s --adapter NAME`)",
		ErrUnknownFormat, file, file)
}
