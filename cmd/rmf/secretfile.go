package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"
)

// readSecretFile reads a Mesos framework secret (the secret of
// --principal in the master's --credentials) from a file others cannot
// read. One trailing newline is dropped; an empty file, or one of more
// than a line, is an error.
func readSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("%s is readable by everyone (mode %#o): chmod 600 it", path, fi.Mode().Perm())
	}
	if fi.Size() > 4096 {
		return "", fmt.Errorf("%s: %d bytes is not a secret", path, fi.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	secret := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case secret == "":
		return "", fmt.Errorf("%s is empty", path)
	case strings.ContainsAny(secret, "\r\n"):
		return "", fmt.Errorf("%s holds more than one line", path)
	case strings.ContainsFunc(secret, unicode.IsControl):
		return "", errors.New(path + " holds control characters")
	}
	return secret, nil
}
