package nodetask

import (
	"encoding/json"
	"fmt"
)

// Message is what the scheduler tells a running node's executor through a
// Mesos MESSAGE call. Messages are not delivered reliably: the scheduler
// repeats one until the task's status shows its effect, and the executor
// acts on each at most once.
type Message struct {
	Version int `json:"version"`
	// Op is what to do: OpLeave or OpCheckConfig.
	Op string `json:"op"`
	// TaskID names the task the message is for; an executor ignores a
	// message meant for another task (an older one of the same node).
	TaskID string `json:"task_id"`
	// Generation, RiakConf and AdvancedConfig are, for OpCheckConfig, the
	// cluster configuration to check.
	Generation     int64  `json:"generation,omitempty"`
	RiakConf       string `json:"riak_conf,omitempty"`
	AdvancedConfig string `json:"advanced_config,omitempty"`
	// AdminID and AdminArgs are, for OpAdmin, the request's id (the
	// reply carries it back) and the `riak admin` verb and arguments.
	AdminID   string   `json:"admin_id,omitempty"`
	AdminArgs []string `json:"admin_args,omitempty"`
}

// OpLeave asks the node to leave its cluster, handing its data to the
// remaining members, and then stop; the task ends TASK_FINISHED.
const OpLeave = "leave"

// OpCheckConfig asks the running node's executor to check a new cluster
// configuration with the release's own check (`riak chkconfig`) while
// the node keeps running on its current one. The answer comes in the
// ConfigCheck of the task's next TASK_RUNNING status. A rolling restart
// restarts a node only after its check passed, so a configuration Riak
// refuses stops the rollout at the first node, which keeps running.
const OpCheckConfig = "check-config"

// OpAdmin asks the running node's executor to run one `riak admin` verb
// (see AdminVerbAllowed) and send its output back in an AdminReply
// (an executor MESSAGE to the scheduler).
const OpAdmin = "admin"

// Marshal encodes m for a MESSAGE call.
func (m Message) Marshal() []byte {
	m.Version = Version
	b, _ := json.Marshal(m)
	return b
}

// ParseMessage decodes and validates MESSAGE data.
func ParseMessage(data []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, fmt.Errorf("nodetask: bad message: %w", err)
	}
	if m.Version != Version {
		return Message{}, fmt.Errorf("nodetask: message version %d, want %d", m.Version, Version)
	}
	if m.Op != OpLeave && m.Op != OpCheckConfig && m.Op != OpAdmin {
		return Message{}, fmt.Errorf("nodetask: unknown message op %q", m.Op)
	}
	if m.Op == OpCheckConfig && (m.Generation < 1 || len(m.RiakConf) > MaxTemplateSize || len(m.AdvancedConfig) > MaxTemplateSize) {
		return Message{}, fmt.Errorf("nodetask: check-config needs a generation and templates of at most %d bytes", MaxTemplateSize)
	}
	if m.Op == OpAdmin {
		if m.AdminID == "" || len(m.AdminID) > 64 {
			return Message{}, fmt.Errorf("nodetask: admin message needs an id of 1..64 bytes")
		}
		if err := CheckAdminArgs(m.AdminArgs); err != nil {
			return Message{}, err
		}
	}
	if m.TaskID == "" {
		return Message{}, fmt.Errorf("nodetask: message without a task id")
	}
	return m, nil
}
