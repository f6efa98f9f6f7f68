package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestClientAddr: with TRUST_PROXY the client's address is the rightmost
// X-Forwarded-For entry, the one the proxy in front of the server appended;
// what the client sent left of it is not believed. A port on the entry is
// dropped, and an entry that is no address falls back to the peer.
func TestClientAddr(t *testing.T) {
	const peer = "10.0.0.9"
	tests := []struct {
		name       string
		trustProxy bool
		forwarded  []string
		want       string
	}{
		{"the peer without TRUST_PROXY", false, []string{"203.0.113.7"}, peer},
		{"the peer without the header", true, nil, peer},
		{"one entry", true, []string{"203.0.113.7"}, "203.0.113.7"},
		{"the rightmost of several", true, []string{"198.51.100.1, 203.0.113.7"}, "203.0.113.7"},
		{"the client's own entries are not believed", true, []string{"1.1.1.1,2.2.2.2,  203.0.113.7 "}, "203.0.113.7"},
		{"the rightmost of several header lines", true, []string{"198.51.100.1", "192.0.2.5, 203.0.113.7"}, "203.0.113.7"},
		{"IPv4 with a port", true, []string{"198.51.100.1, 203.0.113.7:5678"}, "203.0.113.7"},
		{"IPv6", true, []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 with a port", true, []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv4-mapped IPv6", true, []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
		{"not an address", true, []string{"203.0.113.7, unknown"}, peer},
		{"an empty rightmost entry", true, []string{"203.0.113.7, "}, peer},
		{"a hostname", true, []string{"proxy.example.com:80"}, peer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			r.RemoteAddr = peer + ":4321"
			for _, v := range tt.forwarded {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, tt.trustProxy); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
