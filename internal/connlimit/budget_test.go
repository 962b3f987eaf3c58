package connlimit

import "testing"

func TestFileBudget(t *testing.T) {
	tests := []struct {
		nofile uint64
		want   int
	}{
		{0, 0},      // unknown: no limit
		{64, 1},     // less than the reserve
		{131, 1},    // the reserve and one connection's three
		{256, 42},   // (256-128)/3
		{1024, 298}, // a common default soft limit
		{1048576, 349482},
		{1 << 62, 1 << 30}, // RLIM_INFINITY and the like stay an int
	}
	for _, tt := range tests {
		if got := FileBudget(tt.nofile); got != tt.want {
			t.Errorf("FileBudget(%d) = %d, want %d", tt.nofile, got, tt.want)
		}
	}
}
