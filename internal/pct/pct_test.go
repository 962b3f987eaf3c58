package pct

import "testing"

func TestQueryKeyIs(t *testing.T) {
	tests := []struct {
		pair, name string
		want       bool
	}{
		{"path=/x", "path", true},
		{"path", "path", true},
		{"p%61th=/x", "path", true},
		{"P%41TH=/x", "path", false},
		{"pat=/x", "path", false},
		{"paths=/x", "path", false},
		{"access+token=1", "access token", true},
		{"access_token=abc", "access_token", true},
		{"%zz=1", "%zz", true},
		{"%6=1", "%6", true},
		{"=x", "", true},
	}
	for _, tt := range tests {
		if got := QueryKeyIs([]byte(tt.pair), tt.name); got != tt.want {
			t.Errorf("QueryKeyIs(%q, %q) = %v, want %v", tt.pair, tt.name, got, tt.want)
		}
	}
}

func TestUnhex(t *testing.T) {
	for i, c := range "0123456789abcdef" {
		if !IsHex(byte(c)) || Unhex(byte(c)) != byte(i) {
			t.Errorf("%c", c)
		}
	}
	for i, c := range "ABCDEF" {
		if !IsHex(byte(c)) || Unhex(byte(c)) != byte(10+i) {
			t.Errorf("%c", c)
		}
	}
	for _, c := range "gG/:@ " {
		if IsHex(byte(c)) {
			t.Errorf("%c is not hex", c)
		}
	}
}
