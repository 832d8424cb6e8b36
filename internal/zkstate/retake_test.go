package zkstate

import "testing"

// TestDecideRetake covers the decision of a LockRetake lock whose session
// expired, from the line of lock znodes it finds after queueing again.
func TestDecideRetake(t *testing.T) {
	self := LockRecord{TaskID: "task-a", ExecutorID: "exec-a"}
	other := LockHolder{LockRecord: LockRecord{TaskID: "task-b", ExecutorID: "exec-b"}, Znode: "lock-0000000003", Session: 0x3}
	ownOld := LockHolder{LockRecord: self, Znode: "lock-0000000001", Session: 0x1}
	tests := []struct {
		name    string
		line    []string
		mine    string
		session int64
		first   LockHolder
		want    retakeVerdict
	}{
		{"first in line: free, ours again", []string{"lock-0000000005"}, "lock-0000000005", 0x5, LockHolder{}, retakeHeld},
		{"another holds it", []string{"lock-0000000003", "lock-0000000005"}, "lock-0000000005", 0x5, other, retakeTaken},
		{"our old znode not yet deleted", []string{"lock-0000000001", "lock-0000000005"}, "lock-0000000005", 0x5, ownOld, retakeWait},
		{"our record in our own session is not old", []string{"lock-0000000001", "lock-0000000005"}, "lock-0000000005", 0x1, ownOld, retakeTaken},
		{"a holder without a record is another", []string{"lock-0000000002", "lock-0000000005"}, "lock-0000000005", 0x5, LockHolder{Znode: "lock-0000000002", Session: 0x2}, retakeTaken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideRetake(tc.line, tc.mine, tc.session, tc.first, self); got != tc.want {
				t.Fatalf("decideRetake = %v, want %v", got, tc.want)
			}
		})
	}
	if got := decideRetake(nil, "x", 1, LockHolder{}, LockRecord{}); got != retakeTaken {
		t.Fatalf("empty record, empty line: %v", got)
	}
}
