//go:build unix

package main

import (
	"log/slog"
	"syscall"
)

// raiseFileLimit raises the soft limit on open files to the hard limit: each
// held SSE stream costs two descriptors and each WebSocket bridge two, so
// the soft limit (often 1024) and not memory would cap the connections the
// gateway can hold (issue 3). Both limits are logged, so the ceiling is
// known.
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("reading the open-file limit", slog.Any("error", err))
		return
	}
	soft := uint64(lim.Cur) // int64 on some BSDs
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("raising the open-file limit", slog.Uint64("soft", soft), slog.Uint64("hard", uint64(lim.Max)), slog.Any("error", err))
			return
		}
	}
	log.Info("open-file limit", slog.Uint64("soft", uint64(lim.Cur)), slog.Uint64("was", soft), slog.Uint64("hard", uint64(lim.Max)))
}
