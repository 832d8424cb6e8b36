package nodetask

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The `riak admin` verbs the scheduler may ask a node's executor to run
// (OpAdmin), and how many arguments each takes after the verb: reads of
// the cluster's state and the bucket-type operations. Nothing else runs,
// whatever the message says.
var adminVerbs = map[string]struct{ min, max int }{
	"member-status":        {0, 0},
	"ringready":            {0, 0},
	"transfers":            {0, 0},
	"aae-status":           {0, 0},
	"bucket-type list":     {0, 0},
	"bucket-type status":   {1, 1},
	"bucket-type activate": {1, 1},
	"bucket-type create":   {1, 2},
	"bucket-type update":   {2, 2},
}

// MaxAdminArg bounds one argument of an admin verb (a bucket type's
// properties as JSON).
const MaxAdminArg = 64 << 10

// CheckAdminArgs says whether args (verb first) is an admin verb the
// executor runs, with its arguments: printable, valid UTF-8, bounded.
func CheckAdminArgs(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("nodetask: admin message without a verb")
	}
	verb, rest := args[0], args[1:]
	if verb == "bucket-type" && len(args) > 1 {
		verb, rest = "bucket-type "+args[1], args[2:]
	}
	n, ok := adminVerbs[verb]
	if !ok {
		return fmt.Errorf("nodetask: admin verb %q is not one the executor runs", verb)
	}
	if len(rest) < n.min || len(rest) > n.max {
		return fmt.Errorf("nodetask: admin %s takes %d..%d arguments, not %d", verb, n.min, n.max, len(rest))
	}
	for _, a := range rest {
		if len(a) > MaxAdminArg || !utf8.ValidString(a) || strings.ContainsRune(a, 0) {
			return fmt.Errorf("nodetask: admin %s: an argument is not valid UTF-8 text of at most %d bytes", verb, MaxAdminArg)
		}
	}
	return nil
}

// AdminReply is the executor's answer to an OpAdmin message, sent to the
// scheduler in an executor MESSAGE.
type AdminReply struct {
	Version int    `json:"version"`
	ID      string `json:"admin_id"`
	TaskID  string `json:"task_id"`
	// Output is the verb's combined output, trimmed and clipped to
	// MaxAdminOutput bytes; ExitCode its exit status (-1: it did not
	// run, Error says why).
	Output   string `json:"output"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
}

// MaxAdminOutput bounds an AdminReply's output (Mesos framework messages
// are small by design).
const MaxAdminOutput = 256 << 10

// Marshal encodes r for a MESSAGE call.
func (r AdminReply) Marshal() []byte {
	r.Version = Version
	if len(r.Output) > MaxAdminOutput {
		r.Output = strings.ToValidUTF8(r.Output[:MaxAdminOutput], "") + "\n[output clipped]"
	}
	b, _ := json.Marshal(r)
	return b
}

// ParseAdminReply decodes and validates an executor's MESSAGE data.
func ParseAdminReply(data []byte) (AdminReply, error) {
	var r AdminReply
	if err := json.Unmarshal(data, &r); err != nil {
		return AdminReply{}, fmt.Errorf("nodetask: bad admin reply: %w", err)
	}
	if r.Version != Version {
		return AdminReply{}, fmt.Errorf("nodetask: admin reply version %d, want %d", r.Version, Version)
	}
	if r.ID == "" {
		return AdminReply{}, fmt.Errorf("nodetask: admin reply without an id")
	}
	return r, nil
}
