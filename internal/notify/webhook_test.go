package notify_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tenantgraph/internal/notify"
)

func TestAllowedIP(t *testing.T) {
	tests := []struct {
		ip           string
		want         bool // AllowLoopback false
		wantLoopback bool // AllowLoopback true
	}{
		{"127.0.0.1", false, true},
		{"127.9.9.9", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true}, // IPv4-mapped loopback
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"10.0.0.1", false, false},
		{"10.255.255.255", false, false},
		{"172.16.0.1", false, false},
		{"172.31.255.254", false, false},
		{"192.168.1.1", false, false},
		{"169.254.169.254", false, false}, // cloud metadata
		{"::ffff:169.254.169.254", false, false},
		{"::ffff:10.0.0.1", false, false},
		{"100.64.0.1", false, false}, // carrier-grade NAT
		{"100.127.255.254", false, false},
		{"192.0.0.170", false, false},
		{"198.18.0.1", false, false},
		{"224.0.0.1", false, false},       // multicast
		{"239.255.255.250", false, false}, // multicast
		{"255.255.255.255", false, false}, // broadcast
		{"240.0.0.1", false, false},
		{"fe80::1", false, false},       // link-local
		{"fe80::1%eth0", false, false},  // link-local with a zone
		{"fc00::1", false, false},       // unique local
		{"fd00:ec2::254", false, false}, // AWS metadata over IPv6
		{"fd00:ec2::254%eth0", false, false},
		{"64:ff9b::a9fe:a9fe", false, false},   // NAT64 of 169.254.169.254
		{"64:ff9b::7f00:1", false, false},      // NAT64 of 127.0.0.1
		{"64:ff9b:1::a9fe:a9fe", false, false}, // local-use NAT64
		{"ff02::1", false, false},              // multicast
		{"ff05::1:3", false, false},
		{"93.184.216.34", true, true},
		{"8.8.8.8", true, true},
		{"172.32.0.1", true, true}, // just past 172.16.0.0/12
		{"100.128.0.1", true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true},
		{"::ffff:93.184.216.34", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			if got := (notify.WebhookGuard{}).AllowedIP(ip); got != tt.want {
				t.Errorf("AllowedIP(%s): got %v, want %v", tt.ip, got, tt.want)
			}
			if got := (notify.WebhookGuard{AllowLoopback: true}).AllowedIP(ip); got != tt.wantLoopback {
				t.Errorf("AllowedIP(%s) with AllowLoopback: got %v, want %v", tt.ip, got, tt.wantLoopback)
			}
		})
	}
	t.Run("the zero address", func(t *testing.T) {
		if (notify.WebhookGuard{AllowLoopback: true}).AllowedIP(netip.Addr{}) {
			t.Errorf("AllowedIP(invalid): got true, want false")
		}
	})
}

// CheckURL answers a host that resolves to an internal address as it
// answers one that does not resolve, naming neither the host nor an
// address: any registered user can own a tenant and set its webhook, and
// must not learn which internal names exist or where they point.
func TestCheckURLTellsNothingOfInternalNames(t *testing.T) {
	dns := newTestDNS(t)
	dns.set("db.internal.example", "10.1.2.3")
	dns.set("meta.internal.example", "169.254.169.254")
	guard := notify.WebhookGuard{Resolver: dns.resolver()}
	var answers []string
	for _, raw := range []string{"https://db.internal.example/x", "https://meta.internal.example/x", "https://nowhere.internal.example/x", "https://10.1.2.3/x"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := guard.CheckURL(ctx, raw)
		cancel()
		if !errors.Is(err, notify.ErrForbiddenWebhook) {
			t.Fatalf("%s: got %v, want ErrForbiddenWebhook", raw, err)
		}
		for _, secret := range []string{"internal.example", "10.1.2.3", "169.254"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the answer %q names %s", raw, err, secret)
			}
		}
		answers = append(answers, err.Error())
	}
	if len(slices.Compact(slices.Clone(answers))) != 1 {
		t.Errorf("answers: got %q, want one answer for all", answers)
	}
}

func TestCheckURL(t *testing.T) {
	dns := newTestDNS(t)
	dns.set("hooks.example", "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
	dns.set("internal.example", "10.0.0.5")
	dns.set("metadata.example", "169.254.169.254")
	dns.set("v6local.example", "fd00::1")
	dns.set("mixed.example", "93.184.216.34", "192.168.0.10")
	dns.set("loop.example", "127.0.0.1")
	dns.set("localhost", "127.0.0.1", "::1") // in case /etc/hosts lacks it

	tests := []struct {
		url          string
		want         bool // allowed with AllowLoopback false
		wantLoopback bool // allowed with AllowLoopback true
	}{
		{"https://hooks.example/services/T/B/x", true, true},
		{"https://hooks.example:8443/x", true, true},
		{"https://93.184.216.34/hook", true, true},
		{"https://[2606:2800:220:1:248:1893:25c8:1946]/hook", true, true},
		// The form.
		{"http://hooks.example/x", false, false},
		{"ftp://hooks.example/x", false, false},
		{"hooks.example/x", false, false},
		{"https://user:secret@hooks.example/x", false, false},
		{"https://user@hooks.example/x", false, false},
		{"https:///x", false, false},
		{"https://:443/x", false, false},
		{"", false, false},
		{"://x", false, false},
		// IP literals.
		{"https://127.0.0.1/x", false, true},
		{"https://127.0.0.1:9999/x", false, true},
		{"https://[::1]/x", false, true},
		{"https://[::ffff:127.0.0.1]/x", false, true},
		{"https://10.1.2.3/x", false, false},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://[fd00:ec2::254]/latest", false, false},
		{"https://[fe80::1%25eth0]/x", false, false},
		{"https://[64:ff9b::a9fe:a9fe]/x", false, false},
		{"https://0.0.0.0/x", false, false},
		{"https://[::]/x", false, false},
		// Names, through the resolver.
		{"https://internal.example/x", false, false},
		{"https://metadata.example/x", false, false},
		{"https://v6local.example/x", false, false},
		{"https://mixed.example/x", false, false}, // one internal address is enough
		{"https://loop.example/x", false, true},
		{"https://localhost/x", false, true},
		{"https://nowhere.example/x", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			for _, loopback := range []bool{false, true} {
				want := tt.want
				if loopback {
					want = tt.wantLoopback
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := notify.WebhookGuard{AllowLoopback: loopback, Resolver: dns.resolver()}.CheckURL(ctx, tt.url)
				cancel()
				if want && err != nil {
					t.Errorf("AllowLoopback %v: got %v, want allowed", loopback, err)
				}
				if !want && !errors.Is(err, notify.ErrForbiddenWebhook) {
					t.Errorf("AllowLoopback %v: got %v, want ErrForbiddenWebhook", loopback, err)
				}
			}
		})
	}
}

func TestControl(t *testing.T) {
	tests := []struct {
		address      string
		want         bool
		wantLoopback bool
	}{
		{"93.184.216.34:443", true, true},
		{"[2606:2800:220:1:248:1893:25c8:1946]:443", true, true},
		{"127.0.0.1:443", false, true},
		{"[::1]:443", false, true},
		{"[::ffff:127.0.0.1]:443", false, true},
		{"10.0.0.1:443", false, false},
		{"169.254.169.254:80", false, false},
		{"[::ffff:169.254.169.254]:80", false, false},
		{"[fe80::1%eth0]:443", false, false},
		{"[fd00:ec2::254]:80", false, false},
		{"0.0.0.0:443", false, false},
		{"localhost:443", false, false}, // the dialer resolves first: a name here is not expected
		{"garbage", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			for _, loopback := range []bool{false, true} {
				want := tt.want
				if loopback {
					want = tt.wantLoopback
				}
				err := notify.WebhookGuard{AllowLoopback: loopback}.Control("tcp", tt.address, nil)
				if want && err != nil {
					t.Errorf("AllowLoopback %v: got %v, want allowed", loopback, err)
				}
				if !want && !errors.Is(err, notify.ErrForbiddenWebhook) {
					t.Errorf("AllowLoopback %v: got %v, want ErrForbiddenWebhook", loopback, err)
				}
			}
		})
	}
}

// TestControlDefeatsDNSRebinding: the name is public when the URL is
// checked and points at loopback when the connection is made; the dial is
// refused and nothing reaches the loopback server.
func TestControlDefeatsDNSRebinding(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	dns := newTestDNS(t)
	dns.set("rebind.example", "93.184.216.34")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	for _, loopback := range []bool{false, true} {
		guard := notify.WebhookGuard{AllowLoopback: loopback, Resolver: dns.resolver()}
		dns.set("rebind.example", "93.184.216.34")
		if err := guard.CheckURL(ctx, "https://rebind.example/hook"); err != nil {
			t.Fatalf("CheckURL while the name is public: got %v, want allowed", err)
		}
		dns.set("rebind.example", "127.0.0.1")
		dialer := &net.Dialer{Timeout: 2 * time.Second, Control: guard.Control, Resolver: guard.Resolver}
		conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort("rebind.example", strconv.Itoa(port)))
		if loopback {
			// The control case: the same dial goes through when loopback is
			// allowed, so the refusal below is the guard's doing.
			if err != nil {
				t.Fatalf("dial with AllowLoopback: got %v, want a connection", err)
			}
			conn.Close()
			select {
			case <-accepted:
			case <-time.After(2 * time.Second):
				t.Fatalf("the loopback server saw no connection, want one")
			}
			continue
		}
		if !errors.Is(err, notify.ErrForbiddenWebhook) {
			if conn != nil {
				conn.Close()
			}
			t.Fatalf("dial after rebinding to 127.0.0.1: got %v, want ErrForbiddenWebhook", err)
		}
		select {
		case <-accepted:
			t.Fatalf("the loopback server accepted a connection, want none")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// testDNS is a tiny DNS server on loopback answering A and AAAA questions
// from a table that tests change as they go (NXDOMAIN for unknown names).
type testDNS struct {
	addr string
	mu   sync.Mutex
	ips  map[string][]netip.Addr
}

// newTestDNS starts a DNS server for the test's lifetime.
func newTestDNS(t *testing.T) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting the test DNS server: %v", err)
	}
	d := &testDNS{addr: pc.LocalAddr().String(), ips: map[string][]netip.Addr{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := d.answer(buf[:n]); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return d
}

// set makes name resolve to addrs (none: NXDOMAIN).
func (d *testDNS) set(name string, addrs ...string) {
	ips := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		ips[i] = netip.MustParseAddr(a)
	}
	d.mu.Lock()
	d.ips[strings.ToLower(name)] = ips
	d.mu.Unlock()
}

// resolver returns a pure-Go resolver that asks only this server.
func (d *testDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "udp", d.addr)
	}}
}

// answer builds the response to one query: the question echoed, then an
// answer per address of the asked family.
func (d *testDNS) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	// The question: labels up to the root, then QTYPE and QCLASS.
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := binary.BigEndian.Uint16(q[i+1:])
	name := strings.ToLower(strings.Join(labels, "."))

	d.mu.Lock()
	ips, known := d.ips[name]
	d.mu.Unlock()
	var answers [][]byte
	for _, ip := range ips {
		var rtype uint16
		switch {
		case ip.Is4() && qtype == 1:
			rtype = 1
		case ip.Is6() && qtype == 28:
			rtype = 28
		default:
			continue
		}
		raw := ip.AsSlice()
		rr := []byte{0xc0, 12} // a pointer to the question's name
		rr = binary.BigEndian.AppendUint16(rr, rtype)
		rr = binary.BigEndian.AppendUint16(rr, 1) // IN
		rr = binary.BigEndian.AppendUint32(rr, 0) // TTL
		rr = binary.BigEndian.AppendUint16(rr, uint16(len(raw)))
		answers = append(answers, append(rr, raw...))
	}
	flags := uint16(0x8180) // response, recursion desired and available
	if !known || len(ips) == 0 {
		flags |= 3 // NXDOMAIN
	}
	resp := append([]byte{}, q[0:2]...)
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(answers)))
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = append(resp, question...)
	for _, a := range answers {
		resp = append(resp, a...)
	}
	return resp
}
