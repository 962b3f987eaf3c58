// Package configwatch reports changes to the content of one file however it
// is replaced: written in place, renamed over, or swapped in through a
// symlink, as the kubelet updates a ConfigMap volume (it writes a new
// timestamped directory and renames a "..data" symlink over the old one, so
// the file's own name never sees an event).
//
// It watches the file's directory, not the file: a watch on the file itself
// follows the old inode and goes quiet after a rename or a symlink swap
// (fsnotify's documentation says the same). Every event in the directory,
// after a short quiet period, leads to one read of the file, and only content
// that differs from the last one seen is reported, so an editor's chmod,
// a touch or an unrelated file in the directory reload nothing.
//
// A .env that is a symlink into some other directory is read through the
// link, but changes there are seen only with the next event in the file's
// own directory; the ConfigMap layout keeps both in one directory.
package configwatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// maxWaitFactor bounds how long a stream of events can put a read off: at
// most this many quiet periods after the first event of a burst, so a busy
// directory (a log file beside the config) cannot starve the check.
const maxWaitFactor = 10

// Watcher watches one file. Build it with New, then call Run once.
type Watcher struct {
	path     string
	quiet    time.Duration
	log      *slog.Logger
	fs       *fsnotify.Watcher
	last     []byte // content last seen; empty when the file was missing
	burstAt  time.Time
	compared func(changed bool) // test hook: after each comparison; nil in production
}

// New starts watching the directory of path. seen is the content the caller
// loaded (nil for a missing file); Run compares the file with it at once, so
// a change landing between the caller's read and New is not lost. quiet is
// how long the directory must be still before the file is read: a writer's
// truncate-then-write, or the kubelet's several renames, settle into one read.
func New(path string, seen []byte, quiet time.Duration, log *slog.Logger) (*Watcher, error) {
	if quiet <= 0 {
		return nil, fmt.Errorf("configwatch: quiet period %v, want > 0", quiet)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := fw.Add(dir); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watching directory %s: %w", dir, err)
	}
	return &Watcher{path: path, quiet: quiet, log: log, fs: fw, last: seen}, nil
}

// Run calls changed each time the file's content differs from the last
// content seen (a missing file reads as empty, as config.Load takes it), until ctx is
// done; it then closes the watch and returns. changed runs on Run's
// goroutine, so calls never overlap.
func (w *Watcher) Run(ctx context.Context, changed func()) {
	defer w.fs.Close()
	timer := time.NewTimer(0) // the first comparison, against seen
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.fs.Events:
			if !ok {
				return
			}
			timer.Reset(w.delay(time.Now()))
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.log.Warn("config watch", slog.String("file", w.path), slog.Any("error", err))
		case <-timer.C:
			w.burstAt = time.Time{}
			if w.compare() {
				changed()
			}
		}
	}
}

// delay is how long to wait, after an event at now, before reading: the
// quiet period, cut short so the read comes at most maxWaitFactor quiet
// periods after the burst's first event.
func (w *Watcher) delay(now time.Time) time.Duration {
	if w.burstAt.IsZero() {
		w.burstAt = now
	}
	return max(0, min(w.quiet, w.burstAt.Add(maxWaitFactor*w.quiet).Sub(now)))
}

// compare reads the file and reports whether its content differs from the
// last seen, remembering it. An unreadable file (other than a missing one)
// is logged and changes nothing: the next event tries again.
func (w *Watcher) compare() bool {
	data, err := os.ReadFile(w.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = nil
	case err != nil:
		w.log.Warn("config watch: reading", slog.String("file", w.path), slog.Any("error", err))
		return false
	}
	changed := !bytes.Equal(data, w.last)
	w.last = data
	if w.compared != nil {
		w.compared(changed)
	}
	return changed
}
