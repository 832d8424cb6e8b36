package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// Defaults shared by several subcommands; they follow Riak and the original
// Riak Mesos Framework.
const (
	defaultPBAddr    = "127.0.0.1:8087"
	defaultHTTPAddr  = "127.0.0.1:8098"
	defaultAdminAddr = "127.0.0.1:9000"
	defaultAPIAddr   = "127.0.0.1:9090"
	defaultMesosAddr = "127.0.0.1:5050"
	defaultFramework = "riak"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "rmf",
		Short: "RMF-Go: Riak KV on Apache Mesos, with a localhost Riak endpoint for every application",
		Long: `RMF-Go runs Riak KV clusters on Apache Mesos and gives every application a
localhost Riak endpoint through the director sidecar.

Every flag can also be set through an RMF_* environment variable: the flag
name in upper case with dashes as underscores (--zk -> RMF_ZK,
--director-pb -> RMF_DIRECTOR_PB). A flag given on the command line wins.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd)
		},
		// A bare "rmf" prints help rather than an error.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for \"rmf\"", args[0])
			}
			return cmd.Help()
		},
		Args: cobra.ArbitraryArgs,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageErrorf("%v", err)
	})
	root.AddCommand(
		newVersionCmd(),
		newDevnodeCmd(),
		newDirectorCmd(),
		newErlpmdCmd(),
		newMesosLocalCmd(),
		newSchedulerCmd(),
		newExecutorCmd(),
		newClusterCmd(),
		newNodeCmd(),
		newBucketTypeCmd(),
		newFrameworkCmd(),
		newBenchCmd(),
		newDevCmd(),
		newMarathonCmd(),
	)
	markArgErrorsAsUsage(root)
	return root
}

// markArgErrorsAsUsage makes positional-argument errors of every command exit
// with the usage code, like flag errors.
func markArgErrorsAsUsage(cmd *cobra.Command) {
	if validate := cmd.Args; validate != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := validate(c, args); err != nil {
				return usageErrorf("%v", err)
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markArgErrorsAsUsage(sub)
	}
}

// envName is the RMF_* variable that stands in for a flag.
func envName(flag string) string {
	return "RMF_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag of cmd that was not given on the command line from
// its RMF_* environment variable, if present.
func applyEnv(cmd *cobra.Command) error {
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil || f.Name == "help" {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			firstErr = usageErrorf("invalid %s=%q: %v", envName(f.Name), v, err)
			return
		}
		f.Changed = true
	})
	return firstErr
}

// annotateEnv appends the environment variable name to every flag's usage,
// so --help documents it.
func annotateEnv(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		f.Usage = fmt.Sprintf("%s [$%s]", f.Usage, envName(f.Name))
	})
	return cmd
}

// zkAuthUsage documents --zk-auth wherever a command writes to ZooKeeper.
const zkAuthUsage = "ZooKeeper digest credential USER:PASSWORD: znodes this process creates can be changed only with it (read by anyone); see docs/security.md"

// zkAuthFlags are --zk-auth and --zk-auth-file: the credential given
// directly (seen by every local user in the process's command line, unless
// it comes from RMF_ZK_AUTH) or read from a file only its owner can read.
type zkAuthFlags struct{ value, file string }

func (z *zkAuthFlags) register(f *pflag.FlagSet) {
	f.StringVar(&z.value, "zk-auth", "", zkAuthUsage)
	f.StringVar(&z.file, "zk-auth-file", "", "read the --zk-auth credential USER:PASSWORD from this file (not readable by others)")
}

// resolve returns the credential ("" for none); a conflict or a bad file
// is a usage error.
func (z *zkAuthFlags) resolve() (string, error) {
	if z.file == "" {
		return z.value, nil
	}
	if z.value != "" {
		return "", usageErrorf("give either --zk-auth or --zk-auth-file, not both")
	}
	cred, err := readCredentialFile(z.file)
	if err != nil {
		return "", usageErrorf("--zk-auth-file: %v", err)
	}
	return cred, nil
}

// readPrivateFile reads a small file holding what (a credential, a
// secret), refusing one that everyone may read or that is too big to be
// one.
func readPrivateFile(path, what string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("%s is readable by everyone (mode %#o): chmod 600 it", path, fi.Mode().Perm())
	}
	if fi.Size() > 4096 {
		return nil, fmt.Errorf("%s: %d bytes is not %s", path, fi.Size(), what)
	}
	return os.ReadFile(path)
}

// readCredentialFile reads a USER:PASSWORD credential from a file that
// others cannot read, as ssh insists for its keys.
func readCredentialFile(path string) (string, error) {
	b, err := readPrivateFile(path, "a credential")
	if err != nil {
		return "", err
	}
	cred := strings.TrimSpace(string(b))
	if _, _, err := zkstate.ParseDigestAuth(cred); err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	return cred, nil
}

// connectZK opens the ZooKeeper session of a long-running command (who
// names it in errors) with --zk-auth if given, waiting up to 30 s, and
// returns its framework. A malformed credential or framework name is a
// usage error. The caller closes the store.
func connectZK(ctx context.Context, log *slog.Logger, who, servers, zkAuth, framework string) (*zkstate.Store, *zkstate.Framework, error) {
	opts := []zkstate.Option{zkstate.WithLogger(log)}
	if zkAuth != "" {
		if _, _, err := zkstate.ParseDigestAuth(zkAuth); err != nil {
			return nil, nil, usageErrorf("--zk-auth: %v", err)
		}
		opts = append(opts, zkstate.WithDigestAuth(zkAuth))
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	store, err := zkstate.Connect(cctx, strings.Split(servers, ","), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: connect to ZooKeeper %s: %w", who, servers, err)
	}
	fw, err := store.Framework(framework)
	if err != nil {
		store.Close()
		return nil, nil, usageErrorf("--framework: %v", err)
	}
	return store, fw, nil
}
