// Package views holds the admin dashboard: its HTML template, stylesheet and
// script, embedded so that the binary alone serves the page and it works on
// a machine with no internet access (no CDN, no external asset).
package views

import (
	"embed"
	"io/fs"
)

//go:embed *.html *.css *.js
var files embed.FS

// Files returns the embedded view files: admin.html (the template, for
// gofiber/template/html), admin.css and admin.js.
func Files() fs.FS { return files }
