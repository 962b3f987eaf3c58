// Package proc reads what the harness measures of a process tree from
// Linux's /proc: CPU time (utime, stime and the reaped children's), resident
// memory (VmRSS, VmHWM) and parentage. The parsing is split from the file
// reading so it can be tested on fixed text (proc(5)).
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ClockTicks is the kernel's USER_HZ, the unit of the times in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const ClockTicks = 100

// Stat is the part of /proc/<pid>/stat the harness uses.
type Stat struct {
	PPID int
	// User and System are the process's own times; ChildUser and
	// ChildSystem those of its children that have exited and been waited
	// for (cutime, cstime).
	User, System, ChildUser, ChildSystem time.Duration
}

// ParseStat parses the text of /proc/<pid>/stat. The command name, field 2,
// is in parentheses and may hold spaces and parentheses itself, so the
// fields are counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, errors.New("no ')' closing the command name")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, the state
	if len(f) < 15 {
		return Stat{}, fmt.Errorf("%d fields after the command name, want at least 15", len(f))
	}
	var n [5]int64
	for k, idx := range [5]int{1, 11, 12, 13, 14} { // ppid, utime, stime, cutime, cstime
		v, err := strconv.ParseInt(string(f[idx]), 10, 64)
		if err != nil {
			return Stat{}, fmt.Errorf("field %d: %w", idx+3, err)
		}
		n[k] = v
	}
	tick := func(v int64) time.Duration { return time.Duration(v) * time.Second / ClockTicks }
	return Stat{PPID: int(n[0]), User: tick(n[1]), System: tick(n[2]), ChildUser: tick(n[3]), ChildSystem: tick(n[4])}, nil
}

// Mem is the part of /proc/<pid>/status the harness uses, in KiB.
type Mem struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: the peak resident set
}

// ParseStatus parses the VmRSS and VmHWM lines of /proc/<pid>/status. A
// kernel thread has neither and reads as zero.
func ParseStatus(b []byte) (Mem, error) {
	var m Mem
	for line := range bytes.Lines(b) {
		var dst *int64
		var v []byte
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			dst, v = &m.RSS, rest
		} else if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			dst, v = &m.HWM, rest
		} else {
			continue
		}
		v = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return Mem{}, fmt.Errorf("%s: %w", bytes.TrimSpace(line), err)
		}
		*dst = n
	}
	return m, nil
}
