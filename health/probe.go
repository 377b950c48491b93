package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Errors of the built-in HTTP check, wrapped with what was seen; they show
// in Status.LastError and in the Reason of a Transition.
var (
	ErrUnexpectedStatus = errors.New("unexpected status")
	ErrUnexpectedBody   = errors.New("body does not match")
)

// userAgent names the prober in backends' access logs, unless
// Settings.Headers sets one.
const userAgent = "smartproxy-health-check"

// newClient returns the client of the built-in check: the given one with
// redirects turned off, or one that dials afresh for every probe, so that a
// backend which stopped accepting connections cannot hide behind an old
// keep-alive connection, and no idle connection outlives the Checker.
func newClient(given *http.Client) *http.Client {
	var c http.Client
	if given != nil {
		c = *given
	} else {
		c.Transport = &http.Transport{DisableKeepAlives: true, ForceAttemptHTTP2: true}
	}
	if c.CheckRedirect == nil {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &c
}

// targetClient returns c for https target t: a copy whose transport is a
// clone of c's with t.TLS in place of its TLS config, and t.ServerName as
// the server name unless that config names one (the configured name
// wins); c itself when t has neither, or c's transport is not an
// *http.Transport it can clone. The clone dials afresh for every probe
// (as newClient's): nothing closes a target's transport, so it must keep
// no idle connection.
func targetClient(c *http.Client, t Target) *http.Client {
	if t.ServerName == "" && t.TLS == nil {
		return c
	}
	var tr *http.Transport
	switch base := c.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = base.Clone()
	default:
		return c
	}
	if t.TLS != nil {
		tr.TLSClientConfig = t.TLS.Clone()
	} else if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = new(tls.Config)
	}
	if tr.TLSClientConfig.ServerName == "" {
		tr.TLSClientConfig.ServerName = t.ServerName
	}
	tr.DisableKeepAlives = true
	cc := *c
	cc.Transport = tr
	return &cc
}

// newH2CClient returns the client for h2c targets: HTTP/2 with prior
// knowledge over cleartext, a fresh connection for every probe (like
// newClient's), redirects not followed. WithClient does not change it.
func newH2CClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true, Protocols: &p},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// newProbe returns a check request for t with Settings.Headers (a Host
// entry as the request's Host, else t.Host if set) and our User-Agent
// unless the headers set one.
func (c *Checker) newProbe(ctx context.Context, t *target, method string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.probeURL, body)
	if err != nil {
		return nil, err
	}
	for name, values := range c.set.Headers {
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	req.Header.Del("Host") // sent as req.Host instead
	if c.set.host != "" {
		req.Host = c.set.host
	} else if t.Host != "" {
		req.Host = t.Host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	return req, nil
}

// httpCheck probes t.probeURL and judges the answer by ExpectStatus and
// ExpectBody.
func (c *Checker) httpCheck(ctx context.Context, t *target) error {
	s := c.set
	req, err := c.newProbe(ctx, t, s.Method, nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !s.status.Contains(resp.StatusCode) {
		return fmt.Errorf("%w %d: want %v", ErrUnexpectedStatus, resp.StatusCode, s.status)
	}
	if s.body == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.MaxBody))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if !s.body.Match(body) {
		return fmt.Errorf("%w %q", ErrUnexpectedBody, s.ExpectBody)
	}
	return nil
}
