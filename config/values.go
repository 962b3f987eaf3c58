package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// shown quotes a value for an error message, cut short so a pasted blob does
// not flood the terminal. Never pass it a secret.
func shown(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// parseBool accepts true/false, 1/0 and yes/no in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%s is not a boolean (true/false, 1/0, yes/no)", shown(s))
}

// parseInt parses a base-10 integer that fits T.
func parseInt[T int | int64](s string) (T, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && int64(T(n)) != n {
		err = strconv.ErrRange // int is 32 bits here
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is out of range", shown(s))
	}
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer", shown(s))
	}
	return T(n), nil
}

// parseUint parses a base-10 integer >= 0.
func parseUint(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is out of range", shown(s))
	}
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer >= 0", shown(s))
	}
	return n, nil
}

// parseMillis parses a whole number of milliseconds >= 0 into a Duration.
func parseMillis(s string) (time.Duration, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || n > math.MaxInt64/int64(time.Millisecond):
		return 0, fmt.Errorf("%s is too large", shown(s))
	case err != nil:
		return 0, fmt.Errorf("%s is not a whole number of milliseconds", shown(s))
	case n < 0:
		return 0, fmt.Errorf("%s must be >= 0 milliseconds", shown(s))
	}
	return time.Duration(n) * time.Millisecond, nil
}

// parseFloat parses a finite decimal number.
func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s is not a number", shown(s))
	}
	return f, nil
}
