//go:build linux

package bench

import (
	"os"
	"syscall"
	"testing"
)

// TestResetPeakRSS: after the reset, VmHWM no longer holds a peak that
// is gone (16 MB mapped, touched and unmapped before it).
func TestResetPeakRSS(t *testing.T) {
	self := func() procMemory {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		return parseProcMemory(string(b))
	}
	const size = 16 << 20
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i += 4096 {
		mem[i] = 1
	}
	if err := syscall.Munmap(mem); err != nil {
		t.Fatal(err)
	}
	before := self().peakKB
	if err := resetPeakRSSOf(os.Getpid()); err != nil {
		t.Skipf("this kernel does not reset VmHWM: %v", err)
	}
	after := self().peakKB
	if after > before-8<<10 {
		t.Errorf("VmHWM %d kB before the reset, %d after: want the 16 MB peak gone", before, after)
	}
}
