package main

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// readSecretFile reads a Mesos framework secret (the secret of
// --principal in the master's --credentials) from a file others cannot
// read. One trailing newline is dropped; an empty file, or one of more
// than a line, is an error.
func readSecretFile(path string) (string, error) {
	b, err := readPrivateFile(path, "a secret")
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
