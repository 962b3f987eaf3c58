package app_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"gateway/internal/gatewaytest"
)

// findChromium returns the browser to drive: the first of the usual names
// on PATH (Debian's package installs /usr/bin/chromium). Without one the test
// skips, except in CI (CI=true), where .ci/run installs Debian's chromium and
// a missing browser is a failure.
func findChromium(t *testing.T) string {
	t.Helper()
	chromiumNames := []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium binary on PATH (looked for " + strings.Join(chromiumNames, ", ") + "); install Debian's chromium to run the dashboard browser test"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium with a fresh profile and returns a tab
// context; the browser is stopped when the test ends.
func browser(t *testing.T, execPath string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
	})
	return ctx
}

// rowView is what the test reads of one upstream row on the page.
type rowView struct {
	State    string `json:"state"`
	Pill     string `json:"pill"`
	Color    string `json:"color"`
	Requests string `json:"requests"`
}

// pageView is what the test reads of the dashboard.
type pageView struct {
	Live      string             `json:"live"`
	Total     string             `json:"total"`
	Rows      map[string]rowView `json:"rows"`
	StatsURLs []string           `json:"statsUrls"`
}

const readPage = `({
  live: document.getElementById("live").dataset.live,
  total: document.querySelector('[data-total="requests"]').textContent,
  rows: Object.fromEntries([...document.querySelectorAll("tr.upstream")].map(r => [r.dataset.key, {
    state: r.dataset.state,
    pill: r.querySelector('[data-field="state"]').textContent,
    color: getComputedStyle(r.querySelector(".pill")).backgroundColor,
    requests: r.querySelector('[data-field="requests"]').textContent,
  }])),
  statsUrls: performance.getEntriesByType("resource").map(e => e.name).filter(n => n.includes("/admin/stats")),
})`

// waitPage reads the page until cond holds or within passes.
func waitPage(t *testing.T, ctx context.Context, within time.Duration, what string, cond func(pageView) bool) pageView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[pageView](readPage))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the page still does not show %s: %+v", within, what, v)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
	}
}

// TestAdminDashboardInBrowser loads /admin in headless Chromium in front of
// two real upstreams: the rows render, counters follow traffic within 3s,
// and a dead upstream's row turns open.
func TestAdminDashboardInBrowser(t *testing.T) {
	execPath := findChromium(t)
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { // registered first, so it runs after every other cleanup
		// fasthttp's own sleepers end on their next tick after shutdown
		// (idle connections 90s, idle workers 10s, the Date header 1s).
		goleak.VerifyNone(t, leaks,
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
	})
	gw, a, b := preferredDies(t)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	traffic := func(n int) {
		for range n {
			resp, err := client.Get(gw.URL + "/api/users/items")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}

	ctx := browser(t, execPath)
	const token = "t0k3n-for-the-page"
	if err := chromedp.Do(ctx, chromedp.Navigate(gw.URL+"/admin?access_token="+token)); err != nil {
		t.Fatalf("loading /admin: %v", err)
	}
	keyA, keyB := "users "+a.URL, "users "+b.URL
	first := waitPage(t, ctx, 5*time.Second, "both rows, live", func(v pageView) bool {
		return len(v.Rows) == 2 && v.Rows[keyA].State == "closed" && v.Rows[keyB].State == "closed" && v.Live == "ok"
	})

	traffic(30)
	sent := time.Now()
	moved := waitPage(t, ctx, 3*time.Second, "counters moved by the traffic", func(v pageView) bool {
		return v.Total != first.Total && v.Rows[keyA].Requests != first.Rows[keyA].Requests
	})
	t.Logf("counters moved %v after the traffic: total %s → %s", time.Since(sent).Round(time.Millisecond), first.Total, moved.Total)

	b.CloseClientConnections()
	b.Close()
	gatewaytest.Eventually(t, 10*time.Second, func() bool {
		traffic(1)
		return upstreamState(gw, b.URL) == "open"
	}, "b's breaker to open")
	opened := time.Now()
	open := waitPage(t, ctx, 3*time.Second, "b's row open", func(v pageView) bool {
		return v.Rows[keyB].State == "open" && v.Rows[keyB].Pill == "open"
	})
	t.Logf("b's row turned open %v after its breaker", time.Since(opened).Round(time.Millisecond))
	if open.Rows[keyA].State != "closed" || open.Rows[keyA].Color == open.Rows[keyB].Color {
		t.Errorf("rows not told apart: a %+v, b %+v", open.Rows[keyA], open.Rows[keyB])
	}
	if len(open.StatsURLs) < 3 {
		t.Errorf("the page fetched /admin/stats %d times, want one a second", len(open.StatsURLs))
	}
	for _, u := range open.StatsURLs {
		if !strings.Contains(u, "access_token="+token) {
			t.Errorf("page request %s lacks the page's access_token", u)
		}
	}

	shots := []struct {
		name    string
		prepare chromedp.Action[chromedp.Void]
	}{
		{"admin-laptop.png", chromedp.EmulateViewport(1400, 900)},
		{"admin-phone.png", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)},
	}
	for _, s := range shots {
		if err := chromedp.Do(ctx, s.prepare); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; less is JPEG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(t.TempDir(), s.name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
		if dir := os.Getenv("ADMIN_SCREENSHOT_DIR"); dir != "" { // keep a copy past the test's temp dir
			_ = os.WriteFile(filepath.Join(dir, s.name), png, 0o644)
		}
	}
}
