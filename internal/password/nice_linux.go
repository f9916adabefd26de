package password

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// lowerPriority sets the niceness of every thread of this process. Linux
// keeps a niceness per thread, and the Go runtime has started several
// before main runs; a thread started later inherits its creator's, so once
// every existing thread is niced, so is every future one. The loop repeats
// until a pass finds no thread it has not niced yet.
func lowerPriority(nice int) error {
	done := map[int]bool{}
	for {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || done[tid] {
				continue
			}
			fresh = true
			// A thread that ended since the listing is no longer there to nice.
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && err != syscall.ESRCH {
				return err
			}
			if nice == 19 {
				// The lowest niceness still weighs 15 against the server's
				// 1024; the idle policy weighs less and runs a thread only
				// where nothing else wants the core.
				err := unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0)
				if err != nil && err != unix.ESRCH {
					return err
				}
			}
			done[tid] = true
		}
		if !fresh {
			return nil
		}
	}
}
