package upstashops

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// chromiumPath returns Debian's chromium, or "" when it is not installed.
func chromiumPath() string {
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// cdp drives a headless Chromium through the DevTools protocol over
// --remote-debugging-pipe: JSON messages separated by NUL bytes, written to
// the browser's fd 3 and read from its fd 4. It needs no WebSocket library.
type cdp struct {
	t       *testing.T
	cmd     *exec.Cmd
	w       io.WriteCloser
	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpReply
	session string
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func startChromium(t *testing.T, bin string) *cdp {
	t.Helper()
	toBrowser, browserIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	browserOut, fromBrowser, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// Flags that work on this machine: no sandbox as root, and no
	// background networking, whose connections the closed network refuses.
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toBrowser, fromBrowser} // fd 3 and fd 4 in the browser
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	toBrowser.Close()
	fromBrowser.Close()
	c := &cdp{t: t, cmd: cmd, w: browserIn, waiting: map[int]chan cdpReply{}}
	go c.read(browserOut)
	t.Cleanup(func() {
		browserIn.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("chromium stderr (tail): %s", tail(stderr.String(), 2000))
		}
	})
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (c *cdp) read(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue // an event
		}
		c.mu.Lock()
		ch := c.waiting[m.ID]
		delete(c.waiting, m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// call sends a command to the attached page (or the browser before
// attach) and decodes its result into out.
func (c *cdp) call(method string, params any, out any) {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpReply, 1)
	c.waiting[id] = ch
	msg := map[string]any{"id": id, "method": method, "params": params}
	if c.session != "" {
		msg["sessionId"] = c.session
	}
	b, _ := json.Marshal(msg)
	_, err := c.w.Write(append(b, 0))
	c.mu.Unlock()
	if err != nil {
		c.t.Fatalf("cdp %s: write: %v", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			c.t.Fatalf("cdp %s: %s", method, r.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(r.Result, out); err != nil {
				c.t.Fatalf("cdp %s: decode %s: %v", method, r.Result, err)
			}
		}
	case <-time.After(20 * time.Second):
		c.t.Fatalf("cdp %s: no reply within 20s", method)
	}
}

func (c *cdp) openPage() {
	c.t.Helper()
	var created struct {
		TargetID string `json:"targetId"`
	}
	c.call("Target.createTarget", map[string]any{"url": "about:blank"}, &created)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	c.call("Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached)
	c.session = attached.SessionID
	c.call("Page.enable", nil, nil)
	c.call("Runtime.enable", nil, nil)
}

// eval evaluates expr in the page and returns its value as JSON.
func (c *cdp) eval(expr string) json.RawMessage {
	c.t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	if r.ExceptionDetails != nil {
		c.t.Fatalf("evaluate %s: %v", expr, r.ExceptionDetails)
	}
	return r.Result.Value
}

// waitTrue polls a page expression until it is true; it waits for the
// browser to reach a state, bounded by 20 seconds.
func (c *cdp) waitTrue(expr string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for string(c.eval("Boolean("+expr+")")) != "true" {
		if time.Now().After(deadline) {
			c.t.Fatalf("page never satisfied %s; page text: %s", expr, c.eval("document.body ? document.body.innerText.slice(0, 1500) : ''"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// click presses and releases the mouse at the centre of the element that
// selector finds, as a person would.
func (c *cdp) click(selector string) {
	c.t.Helper()
	c.call("Runtime.evaluate", map[string]any{"expression": fmt.Sprintf("document.querySelector(%q).scrollIntoView({block:'center'})", selector)}, nil)
	var box struct{ X, Y float64 }
	raw := c.eval(fmt.Sprintf("(() => { const r = document.querySelector(%q).getBoundingClientRect(); return {X: r.x + r.width/2, Y: r.y + r.height/2}; })()", selector))
	if err := json.Unmarshal(raw, &box); err != nil {
		c.t.Fatalf("position of %s: %v", selector, err)
	}
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		c.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": box.X, "y": box.Y, "button": "left", "clickCount": 1}, nil)
	}
}

func (c *cdp) navigate(url string) {
	c.t.Helper()
	c.call("Page.navigate", map[string]any{"url": url}, nil)
}

// TestBrowserDashboard signs in, checks that the findings render, and
// approves the pending delete by clicking its button in headless Chromium.
func TestBrowserDashboard(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs Debian's chromium package")
		}
		t.Skip("chromium not installed: apt-get install -y chromium (or run bash .ci/run) to run the dashboard browser test")
	}
	fx := newDashboardFixture(t, WithDashboardToken(testToken))
	c := startChromium(t, bin)
	c.openPage()

	c.navigate(fx.base)
	c.waitTrue(`document.querySelector('#token')`) // redirected to the login form
	c.eval(fmt.Sprintf("document.querySelector('#token').value = %q", testToken))
	c.click("#sign-in")
	c.waitTrue(`document.querySelector('[data-finding]')`)

	if got := string(c.eval(`document.querySelectorAll('[data-finding]').length`)); got != "3" {
		t.Errorf("rendered %s findings, want 3", got)
	}
	if got := string(c.eval(`document.querySelector('[data-severity="critical"]') !== null && document.querySelector('#cost-chart polyline') !== null`)); got != "true" {
		t.Error("critical finding or cost chart not rendered")
	}
	if got := string(c.eval(`document.querySelectorAll('[data-approval]').length`)); got != "1" {
		t.Fatalf("rendered %s pending approvals, want 1", got)
	}

	c.click("[data-approval] button.approve")
	c.waitTrue(`document.querySelectorAll('[data-approval]').length === 0 && document.querySelector('[data-audit="executed"]')`)
	if got := fx.exec.ran(); !equalStrings(got, []string{"scd_zombie"}) {
		t.Errorf("executor ran %v, want the approved delete", got)
	}
	entries, err := fx.op.Audit(ctxT(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	if entries[2].Event != AuditApproved || entries[2].Actor != "dashboard" {
		t.Errorf("audit = %+v, want approved by dashboard", entries)
	}
}
