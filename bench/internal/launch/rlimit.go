package launch

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises this process's soft open-file limit to the hard
// one, for this process and every one it starts afterwards: the streams
// suite holds two descriptors per connection (client and upstream ends),
// and the proxies inherit the limit.
func RaiseFileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("reading the open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, 0, fmt.Errorf("raising the open-file limit: %w", err)
		}
	}
	return lim.Cur, lim.Max, nil
}
