package configwatch

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if a watcher's goroutines (Run's, fsnotify's
// reader) outlive the test that started them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet is the tests' quiet period: short, yet long against the microseconds
// between a writer's truncate and write.
const quiet = 50 * time.Millisecond

// receive returns the next value from ch, failing the test naming what it
// waited for when none comes within the timeout.
func receive[T any](t *testing.T, ch <-chan T, within time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("timed out after %v waiting for %s", within, what)
		var zero T
		return zero
	}
}

// watch runs a Watcher on path until the test ends. compares receives each
// comparison's result, changes one value per reported change.
type watch struct {
	compares chan bool
	changes  chan struct{}
}

func start(t *testing.T, path string, seen []byte) *watch {
	t.Helper()
	w, err := New(path, seen, quiet, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	o := &watch{compares: make(chan bool, 64), changes: make(chan struct{}, 64)}
	w.compared = func(changed bool) { o.compares <- changed }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, func() { o.changes <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		receive(t, done, 5*time.Second, "Run to return after cancel")
	})
	return o
}

// next is the result of the next comparison.
func (o *watch) next(t *testing.T) bool {
	t.Helper()
	return receive(t, o.compares, 5*time.Second, "a comparison")
}

// changed waits for a comparison that found a change, skipping the ones in
// between (a rename is two events that may fall in two quiet periods), and
// for the change to be reported.
func (o *watch) changed(t *testing.T) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case c := <-o.compares:
			if c {
				receive(t, o.changes, 5*time.Second, "the change to be reported")
				return
			}
		case <-deadline:
			t.Fatal("timed out waiting for a change to be seen")
		}
	}
}

// style lays a new content into dir/.env as one kind of writer does.
type style func(t *testing.T, dir string, data []byte)

// inPlace truncates and writes the file itself, as `echo >` and most editors do.
func inPlace(t *testing.T, dir string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ".env"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// renamed writes a temporary file beside it and renames it over the file,
// as an atomic writer (and vim's default, and Helm's tools) does.
func renamed(t *testing.T, dir string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, ".env.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ".env")); err != nil {
		t.Fatal(err)
	}
}

// configMap does what the kubelet's AtomicWriter does for a ConfigMap
// volume: the data goes into a new timestamped directory, a ..data_tmp
// symlink to it is renamed over ..data, and the old directory is removed.
// .env itself is a symlink to ..data/.env, made once, never touched again.
func configMap(t *testing.T, dir string, data []byte) {
	t.Helper()
	ts := fmt.Sprintf("..2026_01_02_15_04_05.%d", time.Now().UnixNano())
	if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ts, ".env"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, ".env")); err != nil {
		if err := os.Symlink(filepath.Join("..data", ".env"), filepath.Join(dir, ".env")); err != nil {
			t.Fatal(err)
		}
	}
}

var styles = []struct {
	name  string
	write style
}{
	{"written in place", inPlace},
	{"renamed over", renamed},
	{"ConfigMap symlink swap", configMap},
}

// TestEachWriteStyle checks, for each way a file gets replaced, that a new
// content is reported once the write is done, that the same content written
// again is compared but not reported, and that a later change is reported.
func TestEachWriteStyle(t *testing.T) {
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, ".env")
			v1 := []byte("UPSTREAMS='{\"a\":[\"http://127.0.0.1:1\"]}'\n")
			st.write(t, dir, v1)
			o := start(t, path, v1)
			if o.next(t) {
				t.Fatal("the content the caller loaded was reported as a change")
			}

			v2 := []byte("UPSTREAMS='{\"a\":[\"http://127.0.0.1:2\"]}'\n")
			st.write(t, dir, v2)
			o.changed(t)
			if got, _ := os.ReadFile(path); !bytes.Equal(got, v2) {
				t.Fatalf("after the change the file reads %q", got)
			}

			st.write(t, dir, v2) // the same content again: events, no change
			if o.next(t) {
				t.Fatal("rewriting the same content was reported as a change")
			}
			if len(o.changes) != 0 {
				t.Fatal("a change was reported for the same content")
			}

			st.write(t, dir, []byte("UPSTREAMS='{\"a\":[\"http://127.0.0.1:3\"]}'\n"))
			o.changed(t)
		})
	}
}

// TestChangeBeforeWatchIsReported: a file that changed between the caller's
// load and New is reported at once, not at its next change.
func TestChangeBeforeWatchIsReported(t *testing.T) {
	dir := t.TempDir()
	inPlace(t, dir, []byte("PORT=2\n"))
	o := start(t, filepath.Join(dir, ".env"), []byte("PORT=1\n"))
	if !o.next(t) {
		t.Fatal("the first comparison found no change")
	}
	receive(t, o.changes, 5*time.Second, "the change to be reported")
}

// TestMissingFile: a watched file that does not exist yet is empty content;
// its creation is a change, and its removal another.
func TestMissingFile(t *testing.T) {
	dir := t.TempDir()
	o := start(t, filepath.Join(dir, ".env"), nil)
	if o.next(t) {
		t.Fatal("a missing file compared unequal to no content")
	}
	inPlace(t, dir, []byte("PORT=1\n"))
	o.changed(t)
	if err := os.Remove(filepath.Join(dir, ".env")); err != nil {
		t.Fatal(err)
	}
	o.changed(t)
}

// TestBusyDirectoryCannotStarveTheRead: another file written faster than the
// quiet period still lets a change to the watched file through, within the
// maximum wait.
func TestBusyDirectoryCannotStarveTheRead(t *testing.T) {
	dir := t.TempDir()
	inPlace(t, dir, []byte("PORT=1\n"))
	o := start(t, filepath.Join(dir, ".env"), []byte("PORT=1\n"))
	o.next(t)

	stop := make(chan struct{})
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		tick := time.NewTicker(quiet / 10)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = os.WriteFile(filepath.Join(dir, "access.log"), []byte(fmt.Sprint(i)), 0o644)
			}
		}
	}()
	defer func() { close(stop); <-busy }()
	inPlace(t, dir, []byte("PORT=2\n"))
	o.changed(t)
}

func TestDelay(t *testing.T) {
	t0 := time.Unix(1000, 0)
	q := quiet
	tests := []struct {
		name    string
		burstAt time.Time // zero: no burst under way
		now     time.Time
		want    time.Duration
	}{
		{"first event of a burst", time.Time{}, t0, q},
		{"early in a burst", t0, t0.Add(3 * q), q},
		{"near the bound", t0, t0.Add(maxWaitFactor*q - q/2), q / 2},
		{"at the bound", t0, t0.Add(maxWaitFactor * q), 0},
		{"past the bound", t0, t0.Add(2 * maxWaitFactor * q), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &Watcher{quiet: q, burstAt: tt.burstAt}
			if got := w.delay(tt.now); got != tt.want {
				t.Errorf("delay = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		quiet time.Duration
	}{
		{"no quiet period", filepath.Join(t.TempDir(), ".env"), 0},
		{"directory missing", filepath.Join(t.TempDir(), "nope", ".env"), quiet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w, err := New(tt.path, nil, tt.quiet, slog.New(slog.DiscardHandler)); err == nil {
				w.fs.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}
