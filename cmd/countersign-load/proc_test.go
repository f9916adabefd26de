package main

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"testing/fstest"
	"time"
)

// stat builds a /proc/<pid>/stat line with the given name and CPU fields.
func stat(pid, name string, utime, stime, cutime, cstime string) string {
	return pid + " (" + name + ") S 1 1 1 0 -1 4194560 100 0 0 0 " + utime + " " + stime + " " + cutime + " " + cstime + " 20 0 8 0 1234 5678 90\n"
}

// fixture is a server (10) with threads 10 and 11; thread 11 started a
// hasher (20), which started a helper (30); 40 is listed but has exited.
func fixture() fstest.MapFS {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	return fstest.MapFS{
		"10/stat":             file(stat("10", "count ersign) x", "300", "100", "7", "3")),
		"10/status":           file("Name:\tcountersign\nVmHWM:\t  200000 kB\nVmRSS:\t 1 kB\n"),
		"10/task/10/children": file(""),
		"10/task/11/children": file("20 40 "),
		"20/stat":             file(stat("20", "hasher", "50", "25", "0", "0")),
		"20/status":           file("VmHWM:\t  50000 kB\n"),
		"20/task/20/children": file("30"),
		"30/stat":             file(stat("30", "helper", "1", "1", "0", "0")),
		"30/status":           file("VmHWM:\t 1000 kB\n"),
		"30/task/30/children": file("10"), // a loop must not be followed
		"99/task/99/children": file(""),
	}
}

func TestProcTree(t *testing.T) {
	got := procTree(fixture(), 10)
	if want := []int{10, 20, 40, 30}; !slices.Equal(got, want) {
		t.Errorf("procTree = %v, want %v", got, want)
	}
	if got := procTree(fixture(), 5); !slices.Equal(got, []int{5}) {
		t.Errorf("procTree of a missing process = %v, want just it", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name, line string
		want       int64
		ok         bool
	}{
		{"plain", stat("1", "init", "10", "20", "30", "40"), 100, true},
		{"name with spaces and parenthesis", stat("7", "a) b (c", "1", "2", "0", "0"), 3, true},
		{"no name", "7 x S 1", 0, false},
		{"short", "7 (x) S 1 1 1 0 -1 0 0 0 0 0 5", 0, false},
		{"not a number", stat("1", "x", "1", "y", "0", "0"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU(tt.line)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseStatCPU = %d, %v; want %d, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestTreeCPU(t *testing.T) {
	// (300+100+7+3) + (50+25) + (1+1) ticks; 40 has no stat and is skipped.
	got, err := treeCPU(fixture(), 10)
	if want := 487 * 10 * time.Millisecond; err != nil || got != want {
		t.Errorf("treeCPU = %v, %v; want %v", got, err, want)
	}
	if _, err := treeCPU(fixture(), 99); err == nil {
		t.Error("treeCPU of a process without stat: want an error")
	}
}

func TestTreePeakRSS(t *testing.T) {
	kib, procs, err := treePeakRSS(fixture(), 10)
	if err != nil || kib != 251000 || procs != 3 {
		t.Errorf("treePeakRSS = %d KiB over %d processes, %v; want 251000 over 3", kib, procs, err)
	}
	if _, _, err := treePeakRSS(fixture(), 99); err == nil {
		t.Error("treePeakRSS of a process without status: want an error")
	}
}

func TestParseVmHWM(t *testing.T) {
	got, err := parseVmHWM("Name:\tcountersign\nVmPeak:\t  900000 kB\nVmHWM:\t   123456 kB\nVmRSS:\t 100000 kB\n")
	if err != nil || got != 123456 {
		t.Errorf("parseVmHWM = %d, %v; want 123456", got, err)
	}
	if _, err := parseVmHWM("Name:\tx\n"); err == nil {
		t.Error("no VmHWM line: want an error")
	}
}

// TestRealProc reads this test's own process and a child it starts from
// the real /proc; it checks only that the readings are there, not what
// they are.
func TestRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start sleep:", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	proc := os.DirFS("/proc")
	if tree := procTree(proc, os.Getpid()); !slices.Contains(tree, cmd.Process.Pid) {
		t.Errorf("procTree(self) = %v, does not hold the child %d", tree, cmd.Process.Pid)
	}
	stop := cpuMeter{proc, os.Getpid()}.start()
	if _, ok := stop(); !ok {
		t.Error("cpuMeter on this process: no reading")
	}
	if kib, procs, err := treePeakRSS(proc, os.Getpid()); err != nil || kib <= 0 || procs < 2 {
		t.Errorf("treePeakRSS(self) = %d KiB over %d processes, %v", kib, procs, err)
	}
	if _, ok := (cpuMeter{proc: proc}).start()(); ok {
		t.Error("cpuMeter without a pid: want no reading")
	}
}
