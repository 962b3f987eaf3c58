package proc

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Stat
		wantErr bool
	}{
		{
			name: "nginx worker",
			in:   "4242 (nginx) S 4241 4241 4241 0 -1 4194624 120 0 0 0 250 1730 7 3 20 0 1 0 8123 11534336 1032 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0",
			want: Stat{PPID: 4241, User: 2500 * time.Millisecond, System: 17300 * time.Millisecond, ChildUser: 70 * time.Millisecond, ChildSystem: 30 * time.Millisecond},
		},
		{
			name: "command name with spaces and parentheses",
			in:   "7 (my (odd) proc) R 1 7 7 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 1 1 1",
			want: Stat{PPID: 1, User: 10 * time.Millisecond, System: 20 * time.Millisecond, ChildUser: 30 * time.Millisecond, ChildSystem: 40 * time.Millisecond},
		},
		{name: "no command name", in: "7 nginx R 1 7", wantErr: true},
		{name: "short", in: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 1 2", wantErr: true},
		{name: "non-numeric time", in: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 2 3 4 20 0", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Mem
		wantErr bool
	}{
		{
			name: "process",
			in:   "Name:\tgateway\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 1262876 kB\nVmHWM:\t   26532 kB\nVmRSS:\t   25100 kB\nThreads:\t6\n",
			want: Mem{RSS: 25100, HWM: 26532},
		},
		{name: "kernel thread", in: "Name:\tkthreadd\nState:\tS (sleeping)\n", want: Mem{}},
		{name: "bad number", in: "VmRSS:\t  12x kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatus([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDescend(t *testing.T) {
	children := map[int][]int{1: {10, 20}, 10: {11}, 20: {21, 22}, 99: {100}}
	got := descend(10, children)
	want := []int{10, 11}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("descend(10) = %v, want %v", got, want)
	}
	if got := descend(1, children); len(got) != 6 {
		t.Errorf("descend(1) = %v, want 6 processes", got)
	}
}

// ReadTree of this test process finds it, with some CPU time and memory.
func TestReadTreeSelf(t *testing.T) {
	s, err := ReadTree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.Procs < 1 || s.RSSKiB <= 0 || s.HWMKiB < s.RSSKiB {
		t.Errorf("sample of self: %+v", s)
	}
	if _, err := ReadTree(1 << 30); err == nil {
		t.Error("ReadTree of a pid that does not exist: no error")
	}
}
