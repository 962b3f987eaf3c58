package launch

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CPUs returns the CPUs this process may run on, in order.
func CPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("reading the CPU affinity: %w", err)
	}
	var out []int
	for i := range 1024 {
		if set.IsSet(i) {
			out = append(out, i)
		}
	}
	return out, nil
}

// PinSelf pins every thread of this process to cpu. Threads the runtime
// starts later inherit the mask of the thread that starts them, and
// processes started later that of the thread that forks them, so the load
// generator, the upstreams and wrk all stay on cpu.
func PinSelf(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	// Twice: a thread started during the first pass by a thread not yet
	// pinned is caught by the second.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil {
				return fmt.Errorf("pinning thread %d to CPU %d: %w", tid, cpu, err)
			}
		}
	}
	return nil
}
