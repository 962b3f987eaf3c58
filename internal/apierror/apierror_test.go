package apierror

import "testing"

func TestMessage(t *testing.T) {
	tests := []struct {
		name, body, want string
		ok               bool
	}{
		{"the gateway's", string(Body("upstream timeout", "r-1")), "upstream timeout", true},
		{"an upstream's JSON", `{"message":"boom"}`, "", false},
		{"cut short", `{"error":"upstream`, "", false},
		{"empty", ``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Message([]byte(tt.body))
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Message(%q) = %q, %v; want %q, %v", tt.body, got, ok, tt.want, tt.ok)
			}
		})
	}
}
