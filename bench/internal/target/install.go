package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"gateway/bench/internal/launch"
)

// policyRC is Debian's hook that invoke-rc.d and deb-systemd-invoke ask
// before starting a service (exit 101: not allowed); see
// /usr/share/doc/init-system-helpers/README.policy-rc.d. Installing with it
// in place keeps apt from starting the packaged nginx or HAProxy service.
const policyRC = "/usr/sbin/policy-rc.d"

// Ensure returns path when the program is there; otherwise, as root on a
// machine with apt-get, it installs Debian's package pkg without starting
// its service, and returns path once it exists.
func Ensure(ctx context.Context, path, pkg string, w io.Writer) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("%s missing and not root to install %s", path, pkg)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("%s missing and no apt-get to install %s", path, pkg)
	}
	fmt.Fprintf(w, "%s missing: installing Debian's %s (its service is not started)\n", path, pkg)
	if _, err := os.Stat(policyRC); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policyRC, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
			return "", err
		}
		defer os.Remove(policyRC)
	}
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "--no-install-recommends", pkg}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = w, w
		if err := launch.Run(ctx, cmd); err != nil {
			return "", fmt.Errorf("apt-get %v: %w", args, err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("installed %s but %s is still missing", pkg, path)
	}
	return path, nil
}
