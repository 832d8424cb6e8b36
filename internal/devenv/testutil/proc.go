package testutil

import (
	"fmt"
	"os"
	"strings"
)

// Zombie reports whether process pid has exited (gone, or a zombie not
// yet reaped), as /proc shows it: process watchers count only live ones.
func Zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}
