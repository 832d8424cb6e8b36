package nodetask

import (
	"strings"
	"testing"
)

func TestCheckAdminArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"transfers", []string{"transfers"}, ""},
		{"member-status", []string{"member-status"}, ""},
		{"create with props", []string{"bucket-type", "create", "counters", `{"props":{"datatype":"counter"}}`}, ""},
		{"create without", []string{"bucket-type", "create", "t"}, ""},
		{"none", nil, "without a verb"},
		{"not allowed", []string{"cluster", "leave"}, "is not one the executor runs"},
		{"shell", []string{"bucket-type", "status", "x", "; rm -rf /"}, "takes 1..1 arguments"},
		{"transfers with args", []string{"transfers", "x"}, "takes 0..0"},
		{"update without props", []string{"bucket-type", "update", "t"}, "takes 2..2"},
		{"nul", []string{"bucket-type", "status", "a\x00b"}, "not valid UTF-8 text"},
		{"too long", []string{"bucket-type", "create", "t", strings.Repeat("x", MaxAdminArg+1)}, "at most"},
	} {
		err := CheckAdminArgs(tc.args)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestAdminMessageRoundTrip(t *testing.T) {
	m := Message{Op: OpAdmin, TaskID: "t1", AdminID: "id1", AdminArgs: []string{"ringready"}}
	got, err := ParseMessage(m.Marshal())
	if err != nil || got.AdminID != "id1" || len(got.AdminArgs) != 1 {
		t.Fatalf("parsed %+v, %v", got, err)
	}
	if _, err := ParseMessage(Message{Op: OpAdmin, TaskID: "t1", AdminID: "id1", AdminArgs: []string{"cluster", "leave"}}.Marshal()); err == nil {
		t.Error("a verb the executor does not run was accepted")
	}
	if _, err := ParseMessage(Message{Op: OpAdmin, TaskID: "t1", AdminArgs: []string{"ringready"}}.Marshal()); err == nil {
		t.Error("an admin message without an id was accepted")
	}
	r := AdminReply{ID: "id1", TaskID: "t1", Output: strings.Repeat("é", MaxAdminOutput)}
	back, err := ParseAdminReply(r.Marshal())
	if err != nil || back.ID != "id1" || !strings.HasSuffix(back.Output, "[output clipped]") || len(back.Output) > MaxAdminOutput+32 {
		t.Errorf("reply back: %d bytes, %v", len(back.Output), err)
	}
	if _, err := ParseAdminReply([]byte(`{"version":1}`)); err == nil {
		t.Error("a reply without an id was accepted")
	}
}
