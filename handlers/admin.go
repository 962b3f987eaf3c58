package handlers

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/template/html/v2"

	"gateway/internal/metrics"
	"gateway/upstream"
	"gateway/views"
)

// Admin serves the operator's view of the pool: GET /admin/stats (JSON) and
// GET /admin (the live dashboard, which polls /admin/stats every second).
type Admin struct {
	pool      metrics.Snapshotter
	build     metrics.BuildInfo
	started   time.Time
	statsPath string
	engine    *html.Engine
	style     template.CSS
	script    template.JS
}

// adminPage is the data of the admin.html template.
type adminPage struct {
	Stats     AdminStats
	StatsPath string
	Style     template.CSS
	Script    template.JS
	// The empty service and row the script clones when upstreams change,
	// so their markup is written once, in the template.
	ZeroService  upstream.ServiceSnapshot
	ZeroUpstream upstream.UpstreamSnapshot
}

// NewAdmin returns the admin handlers over pool. started is when the
// gateway started, for its uptime; statsPath is where Stats is mounted, for
// the page's script. The embedded templates are parsed here, so a broken
// template fails at startup rather than on the first visit.
func NewAdmin(pool metrics.Snapshotter, build metrics.BuildInfo, started time.Time, statsPath string) (*Admin, error) {
	files := views.Files()
	engine := html.NewFileSystem(http.FS(files), ".html")
	engine.AddFuncMap(viewFuncs())
	if err := engine.Load(); err != nil {
		return nil, fmt.Errorf("parsing admin templates: %w", err)
	}
	css, err := fs.ReadFile(files, "admin.css")
	if err != nil {
		return nil, fmt.Errorf("reading admin stylesheet: %w", err)
	}
	js, err := fs.ReadFile(files, "admin.js")
	if err != nil {
		return nil, fmt.Errorf("reading admin script: %w", err)
	}
	return &Admin{
		pool: pool, build: build, started: started, statsPath: statsPath, engine: engine,
		// Our own embedded files, not request data: safe to insert verbatim.
		style: template.CSS(css), script: template.JS(js),
	}, nil
}

// stats returns the current document.
func (a *Admin) stats() AdminStats { return newAdminStats(a.pool.Snapshot(), a.started, a.build) }

// Stats answers GET /admin/stats with the AdminStats document.
func (a *Admin) Stats(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(a.stats())
}

// Page answers GET /admin with the dashboard, its rows rendered from the
// current stats so it is readable before the script's first update. The
// stylesheet and script are inline, so the page makes one request per
// second and nothing else: an access_token in the page's URL is all an
// authenticated visit needs.
func (a *Admin) Page(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "no-referrer") // the URL may carry access_token
	c.Type("html", "utf-8")
	return a.engine.Render(c, "admin", adminPage{
		Stats: a.stats(), StatsPath: a.statsPath, Style: a.style, Script: a.script,
	})
}

// viewFuncs are the template helpers; admin.js formats the same way.
func viewFuncs() map[string]any {
	return map[string]any{
		"ms": func(v float64) string {
			if v == 0 {
				return "–"
			}
			if v < 10 {
				return fmt.Sprintf("%.2f", v)
			}
			return fmt.Sprintf("%.0f", v)
		},
		"rate": func(v float64) string { return fmt.Sprintf("%.1f", v) },
		"uptime": func(s float64) string {
			return (time.Duration(s) * time.Second).Round(time.Second).String()
		},
		"short": func(commit string) string { // a revision's first 12 hex digits, "+dirty" kept
			rev, suffix, dirty := strings.Cut(commit, "+")
			rev = rev[:min(12, len(rev))]
			if dirty {
				rev += "+" + suffix
			}
			return rev
		},
		"rfc3339": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339Nano)
		},
	}
}
