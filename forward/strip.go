package forward

import (
	"net/http"
	"net/url"
)

// StripPrefix removes prefix from path when path carries it whole
// segments at a time: "/api" comes off "/api" (leaving "/") and
// "/api/x" (leaving "/x"), never off "/apix". A path without it comes
// back as it was. prefix must start with "/" and not end with one; "" strips
// nothing. The result is a substring of path: no allocation.
func StripPrefix(path, prefix string) string {
	if prefix == "" || len(path) < len(prefix) || path[:len(prefix)] != prefix {
		return path
	}
	rest := path[len(prefix):]
	switch {
	case rest == "":
		return "/"
	case rest[0] == '/':
		return rest
	}
	return path
}

// SetTargetStripped is SetTarget with strip (see StripPrefix) taken off
// r's path before the target's own path is put in front of it. The same
// prefix comes off the escaped form, so a strip prefix must read the same
// escaped and unescaped (config.validateStripPrefix sees to that).
func SetTargetStripped(out, r *http.Request, target *url.URL, strip string) {
	SetTarget(out, r, target)
	if strip == "" {
		return
	}
	u := out.URL
	u.Path = target.Path + StripPrefix(r.URL.Path, strip)
	if r.URL.RawPath != "" {
		u.RawPath = target.EscapedPath() + StripPrefix(r.URL.RawPath, strip)
	}
}
