package graph

import (
	"encoding/json"
	"strings"
	"testing"
)

// repeatedField walks a request's top-level keys over the bytes: it finds
// a field named twice however the values around it are written, and only
// at the top level.
func TestRepeatedField(t *testing.T) {
	big := `{"a": [` + strings.Repeat(`{"query": "}\"]{", "n": [1, 2.5e3, true, null]},`, 1000) + `{}]}`
	tests := []struct{ body, want string }{
		{`{"query": "a"}`, ""},
		{`{"query": "a", "variables": {"query": "b"}}`, ""},
		{`{"query": "a", "query": "b"}`, "query"},
		{`{"query": "a", "Query": "b"}`, "query"},
		{`{"query": "a", "\u0071uery": "b"}`, "query"},
		{`{"operationname": "A", "operationName": "B", "query": "q"}`, "operationName"},
		{` { "variables" : {"x": "\"}"} , "extensions": {}, "variables": null } `, "variables"},
		{`{"variables": ` + big + `, "query": "{ a }", "extensions": [1, {"b": "]"}], "extensions": {}}`, "extensions"},
		{`{"query": "a", "variables": ` + big + `}`, ""},
		{`{"query": "{ a }", "other": 1, "other": 2}`, ""}, // not a request's field: encoding/json ignores it
		{`{}`, ""},
		{`null`, ""},
		{`{"query": "a\\", "query": "b"}`, "query"},
		{`{"extensions": -1.5e-3, "query": true, "query": false}`, "query"},
	}
	for _, tt := range tests {
		var v map[string]any
		if err := json.Unmarshal([]byte(tt.body), &v); err != nil && tt.body != "null" {
			t.Fatalf("not JSON: %s: %v", tt.body[:min(len(tt.body), 80)], err)
		}
		if got := repeatedField([]byte(tt.body)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.body[:min(len(tt.body), 80)], got, tt.want)
		}
	}
}

// BenchmarkRepeatedField is the check on a 1 MiB body of variables, the
// largest MAX_BODY_BYTES lets in by default.
func BenchmarkRepeatedField(b *testing.B) {
	body := []byte(`{"query": "mutation($v: [String!]) { x(v: $v) }", "variables": {"v": [` +
		strings.Repeat(`"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",`, 16000) + `"z"]}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if repeatedField(body) != "" {
			b.Fatal("a field twice")
		}
	}
}
