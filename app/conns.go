package app

import (
	"log/slog"

	"gateway/internal/connlimit"
)

// maxConns is the MAX_CONNS the listener enforces: the configured value, or
// when it is 0 what the open-file limit can hold (connlimit.FileBudget,
// (RLIMIT_NOFILE − 128) / 3: room for each client connection's upstream
// socket and an idle pooled one). main raises the soft limit to the hard one
// before New, so the budget is taken from the raised limit. A configured
// value over the budget is kept, with a warning: the flood it lets in ends
// in EMFILE rather than in 503s.
func maxConns(configured int, log *slog.Logger) int {
	nofile := connlimit.OpenFileLimit()
	budget := connlimit.FileBudget(nofile)
	if configured == 0 {
		log.Info("client connection limit", slog.Int("max_conns", budget),
			slog.String("from", "open-file limit"), slog.Uint64("nofile", nofile))
		return budget
	}
	if budget > 0 && configured > budget {
		log.Warn("MAX_CONNS is more than the open-file limit can hold; a connection flood will hit EMFILE before it",
			slog.Int("max_conns", configured), slog.Int("budget", budget), slog.Uint64("nofile", nofile))
	}
	return configured
}
