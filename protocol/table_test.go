package protocol

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestTableConsistency(t *testing.T) {
	msgs := Messages()
	names := map[string]Code{}
	for i, m := range msgs {
		if i > 0 && msgs[i-1].Code >= m.Code {
			t.Errorf("Messages not sorted at %v", m.Code)
		}
		if prev, dup := names[m.Name]; dup {
			t.Errorf("name %s used by %d and %d", m.Name, prev, m.Code)
		}
		names[m.Name] = m.Code
		if got, ok := Lookup(m.Code); !ok || got.Name != m.Name {
			t.Errorf("Lookup(%d) = %v, %v", m.Code, got.Name, ok)
		}
		if m.Code.String() != m.Name || !m.Code.Known() {
			t.Errorf("Code(%d).String() = %q, want %q", m.Code, m.Code.String(), m.Name)
		}
		if IsRequest(m.Code) != m.Request {
			t.Errorf("IsRequest(%v) = %v", m.Code, IsRequest(m.Code))
		}
		switch {
		case strings.HasSuffix(m.Name, "Req"):
			if !m.Request || m.Response {
				t.Errorf("%s: Request=%v Response=%v", m.Name, m.Request, m.Response)
			}
		case strings.HasSuffix(m.Name, "Resp"):
			if m.Request || !m.Response {
				t.Errorf("%s: Request=%v Response=%v", m.Name, m.Request, m.Response)
			}
		case m.Code == CodeStartTLS || m.Code == CodeTsTtbMsg:
			if !m.Request || !m.Response {
				t.Errorf("%s must be request and response", m.Name)
			}
		default:
			if !m.Embedded() {
				t.Errorf("%s: neither Req nor Resp but not embedded", m.Name)
			}
		}
		if m.Request {
			if len(m.Responses) == 0 {
				t.Errorf("%s: no responses", m.Name)
			}
			for _, r := range m.Responses {
				rm, ok := Lookup(r)
				if !ok || !rm.Response {
					t.Errorf("%s: response %d is not a response code", m.Name, r)
				}
				if r == CodeErrorResp {
					t.Errorf("%s lists RpbErrorResp", m.Name)
				}
			}
			if m.ConnScoped && m.Retryable {
				t.Errorf("%s: connection-scoped requests are not retryable", m.Name)
			}
			// A streamed answer must be detectable: every response has a
			// done field.
			if m.Streaming {
				for _, r := range m.Responses {
					if doneFields[r].num == 0 {
						t.Errorf("%s streams but %v has no done field", m.Name, r)
					}
				}
			}
			if m.StreamFlag != (streamFlagField[m.Code] != 0) {
				t.Errorf("%s: StreamFlag %v but stream field %d", m.Name, m.StreamFlag, streamFlagField[m.Code])
			}
			if m.StreamFlag && !m.Streaming {
				t.Errorf("%s: StreamFlag without Streaming", m.Name)
			}
		} else if len(m.Responses) != 0 || m.Streaming || m.Retryable || m.ConnScoped {
			t.Errorf("%s: request flags on a non-request", m.Name)
		}
	}
	if doneFields[CodeErrorResp].num != 0 {
		t.Error("RpbErrorResp has a done field entry")
	}
}

func TestConnScopedAndStreaming(t *testing.T) {
	var conn, always, flagged, meta []string
	for _, m := range Messages() {
		if m.ConnScoped {
			conn = append(conn, m.Name)
		}
		if m.Metadata {
			meta = append(meta, m.Name)
		}
		if m.Streaming && !m.StreamFlag {
			always = append(always, m.Name)
		}
		if m.StreamFlag {
			flagged = append(flagged, m.Name)
		}
	}
	check := func(what string, got []string, want ...string) {
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("ConnScoped", conn, "RpbGetClientIdReq", "RpbSetClientIdReq", "RpbAuthReq", "RpbStartTls")
	check("always streaming", always, "RpbListKeysReq", "RpbMapRedReq", "RpbCSBucketReq", "TsListKeysReq")
	check("stream flag", flagged, "RpbListBucketsReq", "RpbIndexReq", "TsQueryReq")
	check("Metadata", meta, "RpbGetBucketReq", "RpbSetBucketReq", "RpbResetBucketReq", "RpbGetBucketTypeReq", "RpbSetBucketTypeReq",
		"RpbGetBucketKeyPreflistReq", "RpbYokozunaIndexGetReq", "RpbYokozunaIndexPutReq", "RpbYokozunaIndexDeleteReq",
		"RpbYokozunaSchemaGetReq", "RpbYokozunaSchemaPutReq")
}

func TestRetryable(t *testing.T) {
	cases := []struct {
		code Code
		want bool
	}{
		{CodePingReq, true}, {CodeGetReq, true}, {CodePutReq, false}, {CodeDelReq, false},
		{CodeListKeysReq, true}, {CodeListBucketsReq, true}, {CodeIndexReq, true},
		{CodeMapRedReq, true}, {CodeSetBucketReq, false}, {CodeResetBucketReq, false},
		{CodeSetBucketTypeReq, false}, {CodeCounterUpdateReq, false}, {CodeCounterGetReq, true},
		{CodeDtFetchReq, true}, {CodeDtUpdateReq, false}, {CodeYokozunaIndexPutReq, false},
		{CodeYokozunaSchemaGetReq, true}, {CodeTsQueryReq, false}, {CodeTsGetReq, true},
		{CodeTsPutReq, false}, {CodeAuthReq, false}, {CodeStartTLS, false}, {CodeSetClientIDReq, false},
		{CodeFetchReq, false}, {CodeAaeFoldReapTombsReq, false}, {CodeAaeFoldFindKeysReq, true},
	}
	for _, tc := range cases {
		t.Run(tc.code.String(), func(t *testing.T) {
			if m, _ := Lookup(tc.code); m.Retryable != tc.want {
				t.Fatalf("Retryable = %v, want %v", m.Retryable, tc.want)
			}
		})
	}
}

func TestUnknownCodes(t *testing.T) {
	for _, c := range []Code{37, 43, 61, 105, 127, 131, 252} {
		if m, ok := Lookup(c); ok || m.Name != "" || c.Known() || IsRequest(c) {
			t.Errorf("Lookup(%d) = %+v, %v", c, m, ok)
		}
		if s := c.String(); s != "Code("+strconv.Itoa(int(c))+")" {
			t.Errorf("String = %q", s)
		}
	}
}

// riak_pb_messages.csv as shipped with Riak 3.x (a superset of Riak 2.x's):
// the table must match it exactly, service included.
func TestTableMatchesRiakPBCSV(t *testing.T) {
	f, err := os.Open("testdata/riak_pb_messages.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ",")
		n, err := strconv.Atoi(p[0])
		if err != nil || len(p) != 3 {
			t.Fatalf("bad csv line %q", sc.Text())
		}
		m, ok := Lookup(Code(n))
		if !ok || m.Name != p[1] || m.Service != p[2] {
			t.Errorf("code %d: table has %q/%q, csv %q/%q", n, m.Name, m.Service, p[1], p[2])
		}
		seen++
	}
	if seen != len(Messages()) {
		t.Errorf("csv has %d codes, table %d", seen, len(Messages()))
	}
}

// riakGoClientCodes is riak-go-client v1.7.0's messages.go (its constants
// are unexported, so they are listed here and, when the module source is
// available, also read from it).
var riakGoClientCodes = map[string]Code{
	"RpbErrorResp": 0, "RpbPingReq": 1, "RpbPingResp": 2, "RpbGetClientIdReq": 3,
	"RpbGetClientIdResp": 4, "RpbSetClientIdReq": 5, "RpbSetClientIdResp": 6,
	"RpbGetServerInfoReq": 7, "RpbGetServerInfoResp": 8, "RpbGetReq": 9, "RpbGetResp": 10,
	"RpbPutReq": 11, "RpbPutResp": 12, "RpbDelReq": 13, "RpbDelResp": 14,
	"RpbListBucketsReq": 15, "RpbListBucketsResp": 16, "RpbListKeysReq": 17,
	"RpbListKeysResp": 18, "RpbGetBucketReq": 19, "RpbGetBucketResp": 20,
	"RpbSetBucketReq": 21, "RpbSetBucketResp": 22, "RpbMapRedReq": 23, "RpbMapRedResp": 24,
	"RpbIndexReq": 25, "RpbIndexResp": 26, "RpbSearchQueryReq": 27, "RpbSearchQueryResp": 28,
	"RpbResetBucketReq": 29, "RpbResetBucketResp": 30, "RpbGetBucketTypeReq": 31,
	"RpbSetBucketTypeReq": 32, "RpbGetBucketKeyPreflistReq": 33,
	"RpbGetBucketKeyPreflistResp": 34, "RpbCSBucketReq": 40, "RpbCSBucketResp": 41,
	"RpbCounterUpdateReq": 50, "RpbCounterUpdateResp": 51, "RpbCounterGetReq": 52,
	"RpbCounterGetResp": 53, "RpbYokozunaIndexGetReq": 54, "RpbYokozunaIndexGetResp": 55,
	"RpbYokozunaIndexPutReq": 56, "RpbYokozunaIndexDeleteReq": 57,
	"RpbYokozunaSchemaGetReq": 58, "RpbYokozunaSchemaGetResp": 59,
	"RpbYokozunaSchemaPutReq": 60, "DtFetchReq": 80, "DtFetchResp": 81, "DtUpdateReq": 82,
	"DtUpdateResp": 83, "TsQueryReq": 90, "TsQueryResp": 91, "TsPutReq": 92, "TsPutResp": 93,
	"TsDelReq": 94, "TsDelResp": 95, "TsGetReq": 96, "TsGetResp": 97, "TsListKeysReq": 98,
	"TsListKeysResp": 99, "RpbAuthReq": 253, "RpbAuthResp": 254, "RpbStartTls": 255,
}

func TestTableCoversRiakGoClient(t *testing.T) {
	check := func(src string, codes map[string]Code) {
		names := make([]string, 0, len(codes))
		for n := range codes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if m, ok := Lookup(codes[n]); !ok || m.Name != n {
				t.Errorf("%s: %s = %d, table has %q", src, n, codes[n], m.Name)
			}
		}
	}
	check("literal list", riakGoClientCodes)

	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/basho/riak-go-client").Output()
	if err != nil {
		t.Skipf("riak-go-client source not available: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "messages.go"))
	if err != nil {
		t.Skipf("riak-go-client messages.go not readable: %v", err)
	}
	re := regexp.MustCompile(`const rpbCode_(\w+) byte = (\d+)`)
	parsed := map[string]Code{}
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(m[2])
		parsed[m[1]] = Code(n)
	}
	if len(parsed) != len(riakGoClientCodes) {
		t.Errorf("messages.go has %d codes, literal list %d", len(parsed), len(riakGoClientCodes))
	}
	check("messages.go", parsed)
}
