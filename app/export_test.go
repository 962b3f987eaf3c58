package app

import "gateway/internal/logbuf"

// LogBuffer is the tests' goroutine-safe log sink, under the name the
// package's internal and external tests use.
type LogBuffer = logbuf.Buffer
