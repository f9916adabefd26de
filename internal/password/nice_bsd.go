//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package password

import "syscall"

// lowerPriority sets the niceness of this process; on these systems it
// holds for every thread at once.
func lowerPriority(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, 0, nice)
}
