package erlpmd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func alive(name string, port uint16) *Alive2 {
	return &Alive2{Port: port, NodeType: 77, Protocol: 0, HighestVersion: 6, LowestVersion: 5, Name: name, Extra: []byte{}}
}

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	good := EncodeRequest(Request{Code: codeAlive2Req, Alive: alive("a", 9000)})[2:]
	tests := []struct {
		name    string
		payload []byte
		want    Request
		wantErr error
	}{
		{name: "alive2", payload: good, want: Request{Code: codeAlive2Req, Alive: alive("a", 9000)}},
		{name: "port please", payload: append([]byte{codePortPlease2}, "riak"...), want: Request{Code: codePortPlease2, Name: "riak"}},
		{name: "names", payload: []byte{codeNamesReq}, want: Request{Code: codeNamesReq}},
		{name: "dump", payload: []byte{codeDumpReq}, want: Request{Code: codeDumpReq}},
		{name: "kill", payload: []byte{codeKillReq}, want: Request{Code: codeKillReq}},
		{name: "stop", payload: append([]byte{codeStopReq}, "x"...), want: Request{Code: codeStopReq, Name: "x"}},
		{name: "empty", payload: nil, wantErr: ErrMalformed},
		{name: "unknown code", payload: []byte{1}, wantErr: ErrUnknownRequest},
		{name: "port please without name", payload: []byte{codePortPlease2}, wantErr: ErrMalformed},
		{name: "names with trailing bytes", payload: []byte{codeNamesReq, 0}, wantErr: ErrMalformed},
		{name: "alive2 truncated", payload: good[:8], wantErr: ErrMalformed},
		{name: "alive2 name longer than body", payload: append(append([]byte{}, good[:9]...), 0xff, 0xff), wantErr: ErrMalformed},
		{name: "alive2 extra length mismatch", payload: append(append([]byte{}, good...), 'x'), wantErr: ErrMalformed},
		{name: "alive2 port zero", payload: EncodeRequest(Request{Code: codeAlive2Req, Alive: alive("a", 0)})[2:], wantErr: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest(tc.payload)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("DecodeRequest error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got.Code != tc.want.Code || got.Name != tc.want.Name || (tc.want.Alive != nil && (got.Alive == nil || got.Alive.Name != tc.want.Alive.Name || got.Alive.Port != tc.want.Alive.Port)) {
				t.Fatalf("DecodeRequest = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestResponses(t *testing.T) {
	t.Parallel()
	if got := AppendAlive2Resp(nil, 6, 0, 0x01020304); !bytes.Equal(got, []byte{118, 0, 1, 2, 3, 4}) {
		t.Errorf("ALIVE2_X_RESP = %v", got)
	}
	if got := AppendAlive2Resp(nil, 5, 0, 3); !bytes.Equal(got, []byte{121, 0, 0, 3}) {
		t.Errorf("ALIVE2_RESP = %v", got)
	}
	if got := AppendPort2Resp(nil, nil); !bytes.Equal(got, []byte{119, 1}) {
		t.Errorf("PORT2_RESP not found = %v", got)
	}
	got := AppendPort2Resp(nil, alive("ab", 0x1234))
	want := []byte{119, 0, 0x12, 0x34, 77, 0, 0, 6, 0, 5, 0, 2, 'a', 'b', 0, 0}
	if !bytes.Equal(got, want) {
		t.Errorf("PORT2_RESP = %v, want %v", got, want)
	}
	names := AppendNames(nil, 4369, []Alive2{*alive("a", 1), *alive("b", 2)})
	if binary.BigEndian.Uint32(names) != 4369 || string(names[4:]) != "name a at port 1\nname b at port 2\n" {
		t.Errorf("NAMES_RESP = %q", names)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(EncodeRequest(Request{Code: codeAlive2Req, Alive: alive("riak", 31000)})[2:])
	f.Add(append([]byte{codePortPlease2}, "riak"...))
	f.Add([]byte{codeNamesReq})
	f.Add([]byte{codeAlive2Req, 0, 1})
	f.Fuzz(func(t *testing.T, p []byte) {
		req, err := DecodeRequest(p)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		if got := EncodeRequest(req)[2:]; !bytes.Equal(got, p) {
			t.Fatalf("re-encoded %v as %v", p, got)
		}
	})
}
