package proc

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Sample is one reading of a process tree, summed over its processes.
type Sample struct {
	User, System time.Duration // including the reaped children's
	RSSKiB       int64         // VmRSS summed
	HWMKiB       int64         // VmHWM summed: a bound on the tree's peak
	Procs        int           // processes read
}

// CPU is the tree's user plus system time.
func (s Sample) CPU() time.Duration { return s.User + s.System }

// Sub returns the CPU times of s less those of earlier; the memory figures
// stay s's.
func (s Sample) Sub(earlier Sample) Sample {
	s.User -= earlier.User
	s.System -= earlier.System
	return s
}

// ReadTree samples root and every process descending from it.
func ReadTree(root int) (Sample, error) { return Read(Tree(root)) }

// Read samples the processes pids, as listed by Tree, with the root
// first. A process that has exited since the listing is skipped; the root
// must be readable. Listing once and reading often keeps the sampling
// cheap (one scan of /proc reads every process's stat).
func Read(pids []int) (Sample, error) {
	var s Sample
	for i, pid := range pids {
		st, mem, err := read(pid)
		if err != nil {
			if i == 0 {
				return Sample{}, err
			}
			continue
		}
		s.User += st.User + st.ChildUser
		s.System += st.System + st.ChildSystem
		s.RSSKiB += mem.RSS
		s.HWMKiB += mem.HWM
		s.Procs++
	}
	return s, nil
}

// read reads one process's stat and status files.
func read(pid int) (Stat, Mem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, Mem{}, fmt.Errorf("reading process %d CPU time: %w", pid, err)
	}
	st, err := ParseStat(b)
	if err != nil {
		return Stat{}, Mem{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	b, err = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Stat{}, Mem{}, fmt.Errorf("reading process %d memory: %w", pid, err)
	}
	mem, err := ParseStatus(b)
	if err != nil {
		return Stat{}, Mem{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return st, mem, nil
}

// Tree returns root followed by its descendants, from one pass over /proc.
func Tree(root int) []int {
	parent := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, err := ParseStat(b); err == nil {
			parent[st.PPID] = append(parent[st.PPID], pid)
		}
	}
	return descend(root, parent)
}

// descend lists root and, breadth first, everything under it in children
// (parent pid → child pids).
func descend(root int, children map[int][]int) []int {
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}
