package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// This file declares every subcommand of the rmf contract (see
// docs/architecture.md) with its flags. A command whose component is not
// built yet returns errNotYetAvailable (exit code 2); as each component lands
// its RunE moves to a file of its own.

// notYet makes cmd (and, for groups, each of its verbs) answer "not yet available".
func notYet(cmd *cobra.Command) *cobra.Command {
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		return errNotYetAvailable(strings.TrimPrefix(c.CommandPath(), "rmf "))
	}
	return annotateEnv(cmd)
}

// group builds a command with verb subcommands (cluster create, node add, ...).
func group(use, short string, verbs []string, flags func(*cobra.Command)) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	flags(cmd)
	for _, v := range verbs {
		sub := &cobra.Command{Use: v, Short: short + ": " + v}
		cmd.AddCommand(notYet(sub))
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		return usageErrorf("%s needs one of: %v", c.CommandPath(), verbs)
	}
	return annotateEnv(cmd)
}
