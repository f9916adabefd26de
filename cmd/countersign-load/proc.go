package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// The server's CPU time and peak memory come from /proc on this machine, for
// the server and every process it started (a child that hashes passwords,
// say), so that CPU per operation and peak RSS count the whole server.

// userHZ is the unit of the CPU times in /proc/<pid>/stat: Linux reports
// them in USER_HZ, which is 100 on every architecture Go supports.
const userHZ = 100

// maxProcs bounds the walk over a process's descendants.
const maxProcs = 256

// procTree returns pid and its live descendants, parents first, found
// through /proc/<pid>/task/<tid>/children; proc is /proc (or a fixture).
// A process that exits during the walk is simply missed.
func procTree(proc fs.FS, pid int) []int {
	tree := []int{pid}
	seen := map[int]bool{pid: true}
	for i := 0; i < len(tree) && len(tree) < maxProcs; i++ {
		tasks, err := fs.ReadDir(proc, strconv.Itoa(tree[i])+"/task")
		if err != nil {
			continue
		}
		for _, task := range tasks {
			data, err := fs.ReadFile(proc, strconv.Itoa(tree[i])+"/task/"+task.Name()+"/children")
			if err != nil {
				continue
			}
			for f := range strings.FieldsSeq(string(data)) {
				child, err := strconv.Atoi(f)
				if err != nil || seen[child] || len(tree) == maxProcs {
					continue
				}
				seen[child] = true
				tree = append(tree, child)
			}
		}
	}
	return tree
}

// parseStatCPU reads a /proc/<pid>/stat line's CPU time in clock ticks:
// the process's own user and system time plus that of the children it has
// waited for, so a child that exits between two readings is not lost.
func parseStatCPU(stat string) (int64, error) {
	// The command name is in parentheses and may hold spaces or ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state, ppid, …; utime, stime, cutime and cstime are
	// fields 14 to 17 of the line, 11 to 14 here.
	if len(f) < 15 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 15", len(f))
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return ticks, nil
}

// treeCPU is the CPU time pid and its live descendants have used so far.
// Only pid itself must be readable: a descendant may exit meanwhile.
func treeCPU(proc fs.FS, pid int) (time.Duration, error) {
	var ticks int64
	for i, p := range procTree(proc, pid) {
		data, err := fs.ReadFile(proc, strconv.Itoa(p)+"/stat")
		if err == nil {
			var t int64
			if t, err = parseStatCPU(string(data)); err == nil {
				ticks += t
				continue
			}
		}
		if i == 0 {
			return 0, fmt.Errorf("process %d: %w", pid, err)
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// treePeakRSS sums the peak resident set (VmHWM) of pid and its live
// descendants, in KiB, and says how many processes it read.
func treePeakRSS(proc fs.FS, pid int) (kib int64, procs int, err error) {
	for i, p := range procTree(proc, pid) {
		data, rerr := fs.ReadFile(proc, strconv.Itoa(p)+"/status")
		var n int64
		if rerr == nil {
			n, rerr = parseVmHWM(string(data))
		}
		if rerr != nil {
			if i == 0 {
				return 0, 0, fmt.Errorf("process %d: %w", pid, rerr)
			}
			continue
		}
		kib += n
		procs++
	}
	return kib, procs, nil
}

func parseVmHWM(status string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM line")
}

// cpuMeter measures the CPU a process tree uses across a phase. The zero
// value (no pid) measures nothing.
type cpuMeter struct {
	proc fs.FS
	pid  int
}

// start reads the tree's CPU time and returns a function that reads it
// again and returns the difference; ok is false when either reading failed
// or there is no process to read.
func (m cpuMeter) start() func() (time.Duration, bool) {
	if m.pid <= 0 {
		return func() (time.Duration, bool) { return 0, false }
	}
	before, err := treeCPU(m.proc, m.pid)
	return func() (time.Duration, bool) {
		after, err2 := treeCPU(m.proc, m.pid)
		if err != nil || err2 != nil {
			return 0, false
		}
		return max(after-before, 0), true
	}
}
