package caddytest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// HTTP/3 clients, which Caddy serves by default on HTTPS sites: every
// stream is proxied (on the handler's pooled workers, as HTTP/2 streams
// are) to a plain HTTP/1.1 backend, bodies both ways intact, each answer
// to its own request.

const h3Addr = "127.0.0.1:22543"

// startH3 runs Caddy with one TLS server on h3Addr speaking HTTP/1.1,
// HTTP/2 and HTTP/3, route its only route, and returns a client that
// speaks only HTTP/3 to it.
func startH3(t *testing.T, route map[string]any) *http.Client {
	t.Helper()
	ca := newTestCA(t, "h3-ca")
	_, certFile, keyFile := ca.issue(t, false, []string{"h3.test"}, net.ParseIP("127.0.0.1"))
	srv := plainServer(h3Addr, route)
	srv["protocols"] = []string{"h1", "h2", "h3"}
	srv["tls_connection_policies"] = []map[string]any{{}}
	startConfig(t, map[string]any{"http_port": 22580, "https_port": 22543, "servers": map[string]any{"sp": srv}},
		map[string]any{"tls": map[string]any{"certificates": map[string]any{
			"load_files": []map[string]any{{"certificate": certFile, "key": keyFile}}}}})
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "h3.test"}}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// h3Backend answers /echo with what it got (method, Host, the forwarded
// scheme, the body's length and SHA-256), /big with size bytes of
// spliceBody, and /id/N with N.
func h3Backend(t *testing.T) *httptest.Server {
	t.Helper()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/echo":
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			sum := sha256.Sum256(body)
			fmt.Fprintf(w, "%s %s %s %s %d %s", r.Proto, r.Method, r.Host, r.Header.Get("X-Forwarded-Proto"),
				len(body), hex.EncodeToString(sum[:]))
		case r.URL.Path == "/big":
			n, _ := strconv.Atoi(r.URL.Query().Get("size"))
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(spliceBody(n))
		case strings.HasPrefix(r.URL.Path, "/id/"):
			io.WriteString(w, strings.TrimPrefix(r.URL.Path, "/id/"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(b.Close)
	return b
}

func TestH3ClientsAreProxied(t *testing.T) {
	b := h3Backend(t)
	c := startH3(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	url := "https://" + h3Addr

	do := func(t *testing.T, req *http.Request) (*http.Response, []byte) {
		t.Helper()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s over HTTP/3: %v", req.Method, req.URL.Path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s over HTTP/3: reading the body: %v", req.Method, req.URL.Path, err)
		}
		if resp.ProtoMajor != 3 {
			t.Fatalf("%s %s answered over %s, want HTTP/3", req.Method, req.URL.Path, resp.Proto)
		}
		return resp, body
	}

	t.Run("GET", func(t *testing.T) {
		req, _ := http.NewRequest("GET", url+"/echo", nil)
		req.Host = "h3.test" // the :authority, which the backend gets as Host
		resp, body := do(t, req)
		sum := sha256.Sum256(nil)
		want := "HTTP/1.1 GET h3.test https 0 " + hex.EncodeToString(sum[:])
		if resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	})

	post := func(t *testing.T, payload []byte, body io.Reader, length int64) {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/echo", body)
		req.ContentLength = length
		resp, got := do(t, req)
		sum := sha256.Sum256(payload)
		want := fmt.Sprintf("HTTP/1.1 POST %s https %d %s", h3Addr, len(payload), hex.EncodeToString(sum[:]))
		if resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, got, want)
		}
	}
	t.Run("POST body", func(t *testing.T) {
		payload := spliceBody(300 << 10)
		post(t, payload, bytes.NewReader(payload), int64(len(payload)))
	})
	t.Run("POST body of unknown length", func(t *testing.T) {
		payload := spliceBody(70 << 10)
		post(t, payload, io.MultiReader(bytes.NewReader(payload[:1000]), bytes.NewReader(payload[1000:])), -1)
	})

	t.Run("1 MiB answer", func(t *testing.T) {
		const size = 1 << 20
		req, _ := http.NewRequest("GET", url+"/big?size="+strconv.Itoa(size), nil)
		resp, body := do(t, req)
		if resp.StatusCode != 200 || !bytes.Equal(body, spliceBody(size)) {
			t.Fatalf("got %d and %d bytes, want 200 and the %d bytes the backend sent", resp.StatusCode, len(body), size)
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		req, _ := http.NewRequest("HEAD", url+"/big?size=5000", nil)
		resp, body := do(t, req)
		if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != 5000 {
			t.Fatalf("got %d, %d body bytes, length %d; want 200, none, 5000", resp.StatusCode, len(body), resp.ContentLength)
		}
	})

	t.Run("concurrent streams each get their own answer", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				id := strconv.Itoa(1000 + i)
				req, _ := http.NewRequestWithContext(ctx, "GET", url+"/id/"+id, nil)
				resp, err := c.Do(req)
				if err != nil {
					errs <- id + ": " + err.Error()
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(body) != id {
					errs <- fmt.Sprintf("%s: got %d %q (%v)", id, resp.StatusCode, body, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})

	t.Run("the backend's own status", func(t *testing.T) {
		req, _ := http.NewRequest("GET", url+"/nope", nil)
		resp, _ := do(t, req)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("got %d, want the backend's 404", resp.StatusCode)
		}
	})
}
