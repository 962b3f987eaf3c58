package target

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The generated configurations are accepted by the real programs' own
// checkers (nginx -t, haproxy -c), with and without an access log.
func TestConfigsCheck(t *testing.T) {
	tests := []struct {
		name, bin string
		conf      func(Options, string) string
		args      func(dir, conf string) []string
	}{
		{"nginx", NginxPath, NginxConfig, func(dir, conf string) []string {
			return []string{"-t", "-q", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")}
		}},
		{"haproxy", HAProxyPath, HAProxyConfig, func(_, conf string) []string { return []string{"-c", "-q", "-f", conf} }},
	}
	for _, tt := range tests {
		for _, accessLog := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := os.Stat(tt.bin); err != nil {
					t.Skipf("%s not installed", tt.bin)
				}
				dir := t.TempDir()
				o := Options{Dir: dir, Upstreams: []string{"127.0.0.1:9001", "127.0.0.1:9002"}}
				if accessLog {
					o.AccessLog = filepath.Join(dir, "access.log")
				}
				text := tt.conf(o, "127.0.0.1:18080")
				if !strings.Contains(text, "127.0.0.1:9002") || !strings.Contains(text, Prefix) {
					t.Errorf("configuration lacks the upstreams or the prefix:\n%s", text)
				}
				conf := filepath.Join(dir, "conf")
				if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(tt.bin, tt.args(dir, conf)...).CombinedOutput(); err != nil {
					t.Errorf("%s rejects the configuration: %v\n%s\n%s", tt.name, err, out, text)
				}
			})
		}
	}
}
