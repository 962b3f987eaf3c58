package main

import "testing"

func TestSuiteOf(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "http"},
		{[]string{"-rounds", "5"}, "http"},
		{[]string{"-suite", "streams", "-mode", "ws"}, "streams"},
		{[]string{"-n", "10", "--suite=streams"}, "streams"},
		{[]string{"-suite=http"}, "http"},
		{[]string{"-suite"}, "http"},
		{[]string{"-env", "suite=x"}, "http"},
	}
	for _, tt := range tests {
		if got := suiteOf(tt.args); got != tt.want {
			t.Errorf("suiteOf(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}
