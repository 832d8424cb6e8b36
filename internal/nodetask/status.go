package nodetask

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// Status is the JSON in the data of the executor's TASK_RUNNING updates:
// where the node runs and how it is doing. The executor sends one when
// the node is ready and again whenever Ready, TransfersPending or a
// ConfigCheck changes, so the scheduler knows each node's readiness
// without asking.
type Status struct {
	NodeName   string `json:"node_name"`
	Node       string `json:"node"`
	Cluster    string `json:"cluster"`
	Flavor     string `json:"flavor"`
	Host       string `json:"host"`
	Ports      Ports  `json:"ports"`
	PID        int    `json:"pid"`
	Generation int64  `json:"generation"`
	// Ready: the node serves KV (`riak admin wait-for-service riak_kv`)
	// and every member agrees on the ring (`riak admin ringready`).
	Ready bool `json:"ready"`
	// TransfersPending: `riak admin transfers`, asked of this node, shows
	// handoffs still to do somewhere in the cluster; Transfers is its
	// output, trimmed (empty when none are pending).
	TransfersPending bool   `json:"transfers_pending"`
	Transfers        string `json:"transfers,omitempty"`
	// ConfigCheck answers the last OpCheckConfig message.
	ConfigCheck *ConfigCheck `json:"config_check,omitempty"`
}

// ConfigCheck is the result of checking a cluster configuration
// generation's templates on a running node, with the release's own check
// (`riak chkconfig`), before the node is restarted to apply them: the
// record the scheduler keeps (Error is the check's message when it
// failed, cuttlefish's words).
type ConfigCheck = zkstate.ConfigCheck

// MaxStatusText bounds Status.Transfers and ConfigCheck.Error.
const MaxStatusText = 4 << 10

// MarshalStatus encodes s for a status update's data, truncating its
// texts to MaxStatusText.
func MarshalStatus(s Status) []byte {
	s.Transfers = truncate(s.Transfers)
	if s.ConfigCheck != nil {
		c := *s.ConfigCheck
		c.Error = truncate(c.Error)
		s.ConfigCheck = &c
	}
	b, _ := json.Marshal(s)
	return b
}

func truncate(s string) string {
	if len(s) > MaxStatusText {
		return s[:MaxStatusText] + "..."
	}
	return s
}

// ParseStatus decodes a status update's data. Updates of other executors
// (or none) carry no Status: an empty data is (Status{}, false, nil).
func ParseStatus(data []byte) (Status, bool, error) {
	if len(data) == 0 {
		return Status{}, false, nil
	}
	if len(data) > 64<<10 {
		return Status{}, false, errors.New("nodetask: status data larger than 64 KiB")
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return Status{}, false, fmt.Errorf("nodetask: bad status data: %w", err)
	}
	if len(s.Transfers) > MaxStatusText+3 || s.ConfigCheck != nil && len(s.ConfigCheck.Error) > MaxStatusText+3 {
		return Status{}, false, errors.New("nodetask: status text too long")
	}
	return s, true, nil
}
