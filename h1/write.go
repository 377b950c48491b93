package h1

import (
	"bufio"
	"net/http"
)

// writeRequestHead is the fast path for the commonest request a proxy
// sends: no body, no trailers, no Connection: close. It writes exactly what
// (*http.Request).Write writes for such a request, minus the per-request
// work that dominates it in profiles: sorting the header keys (which
// allocates) and re-validating values that Go's server already parsed.
// Header order is the map's, which HTTP does not care about (RFC 9110
// §5.3: only the order of a field's own lines matters, and those stay in
// order).
//
// req must have passed validateRequest (RoundTrip sees to it): no field
// value holds CR, LF, NUL or another control byte, so none is checked
// again here.
//
// It reports false, having written nothing, when the request needs the
// general path.
func writeRequestHead(bw *bufio.Writer, req *http.Request) bool {
	if (req.Body != nil && req.Body != http.NoBody) || len(req.Trailer) > 0 || req.Close ||
		len(req.TransferEncoding) > 0 || req.URL == nil || req.URL.Opaque != "" {
		return false
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validHost(host) {
		return false
	}
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	bw.WriteString(path)
	if req.URL.ForceQuery || req.URL.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(req.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	if ua, ok := req.Header["User-Agent"]; !ok {
		bw.WriteString("User-Agent: Go-http-client/1.1\r\n")
	} else if len(ua) > 0 && ua[0] != "" {
		bw.WriteString("User-Agent: ")
		bw.WriteString(ua[0])
		bw.WriteString("\r\n")
	}
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		// A body-carrying method with no body says so, as Request.Write does.
		bw.WriteString("Content-Length: 0\r\n")
	}
	for k, vv := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(trimOWS(v))
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	return true
}

// validHost reports whether h may go in a Host header as it is.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == '\\' {
			return false
		}
	}
	return true
}

// trimOWS trims leading and trailing spaces and tabs, as Header.Write does.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
