//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package password

// lowerPriority leaves the priority alone where Countersign does not know
// how to lower it for a whole process; the hashing pool's slots still bound
// the worker.
func lowerPriority(int) error { return nil }
