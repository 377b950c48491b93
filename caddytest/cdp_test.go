package caddytest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cdp is headless Chromium driven through the DevTools protocol over a
// pipe (--remote-debugging-pipe: commands on its fd 3, answers on fd 4,
// each a JSON object ended by a NUL byte), so a test can navigate with a
// Referer, click and read the live DOM. Caddy's admin endpoint refuses a
// navigation that names no allowed origin, so a page served there can be
// opened only this way (the --dump-dom command line sends no Referer).
type cdp struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      *os.File // commands to Chromium
	replies chan cdpMessage
	done    chan struct{} // the reader has stopped
	mu      sync.Mutex
	id      int
	session string
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startCDP starts Chromium with a w×h window and attaches to a blank page;
// Cleanup stops it and its reader.
func startCDP(t *testing.T, w, h int) *cdp {
	t.Helper()
	bin := chromium()
	if bin == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run does this)")
	}
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--hide-scrollbars", "--user-data-dir="+t.TempDir(), "--remote-debugging-pipe",
		fmt.Sprintf("--window-size=%d,%d", w, h), "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, outW} // fds 3 and 4
	// A group of its own, so that its renderers and helpers end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmdR.Close()
	outW.Close()
	c := &cdp{t: t, cmd: cmd, in: cmdW, replies: make(chan cdpMessage, 64), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		rd := bufio.NewReader(outR)
		for {
			raw, err := rd.ReadBytes(0)
			if err != nil {
				return
			}
			var m cdpMessage
			if json.Unmarshal(raw[:len(raw)-1], &m) == nil && m.ID != 0 {
				select {
				case c.replies <- m:
				default: // nobody waits for it any more
				}
			}
		}
	}()
	t.Cleanup(func() {
		// Browser.close lets every Chromium process exit before the
		// test's temporary profile directory is removed; the group is
		// killed if it does not within 10 s, and in any case once the
		// browser is gone, so no helper outlives the test.
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		b, _ := json.Marshal(map[string]any{"id": 1 << 30, "method": "Browser.close"})
		_, _ = cmdW.Write(append(b, 0))
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		cmdW.Close()
		outR.Close()
		<-c.done
	})
	var target struct{ TargetID string }
	c.decode(c.call("", "Target.createTarget", map[string]any{"url": "about:blank"}), &target)
	var att struct{ SessionID string }
	c.decode(c.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}), &att)
	c.session = att.SessionID
	return c
}

func (c *cdp) decode(raw json.RawMessage, v any) {
	c.t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		c.t.Fatalf("devtools answer %s: %v", raw, err)
	}
}

// call sends one command (to the page's session unless session is "") and
// returns its result.
func (c *cdp) call(session, method string, params any) json.RawMessage {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id++
	msg := map[string]any{"id": c.id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, _ := json.Marshal(msg)
	if _, err := c.in.Write(append(b, 0)); err != nil {
		c.t.Fatalf("devtools %s: %v", method, err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-c.replies:
			if m.ID != c.id {
				continue
			}
			if m.Error != nil {
				c.t.Fatalf("devtools %s: %s", method, m.Error.Message)
			}
			return m.Result
		case <-deadline:
			c.t.Fatalf("devtools %s: no answer in 30 s", method)
		case <-c.done:
			c.t.Fatalf("devtools %s: chromium is gone", method)
		}
	}
}

// navigate opens url in the page as if from a link on referrer.
func (c *cdp) navigate(url, referrer string) {
	c.t.Helper()
	c.call(c.session, "Page.navigate", map[string]any{"url": url, "referrer": referrer})
}

// eval runs a JavaScript expression in the page and decodes its value
// into v (nil: ignore it).
func (c *cdp) eval(expr string, v any) {
	c.t.Helper()
	var out struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	c.decode(c.call(c.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true}), &out)
	if out.ExceptionDetails != nil {
		c.t.Fatalf("evaluating %s: %s", expr, out.ExceptionDetails.Text)
	}
	if v != nil && len(out.Result.Value) > 0 {
		c.decode(out.Result.Value, v)
	}
}

// waitTrue polls a boolean expression every 50 ms for up to d.
func (c *cdp) waitTrue(expr string, d time.Duration) bool {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		c.eval(expr, &ok)
		if ok || time.Now().After(deadline) {
			return ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot writes a PNG of the page to path.
func (c *cdp) screenshot(path string) {
	c.t.Helper()
	var shot struct{ Data []byte }
	c.decode(c.call(c.session, "Page.captureScreenshot", map[string]any{"format": "png"}), &shot)
	if len(shot.Data) == 0 {
		c.t.Fatal("empty screenshot")
	}
	if err := os.WriteFile(path, shot.Data, 0o644); err != nil {
		c.t.Fatal(err)
	}
}
