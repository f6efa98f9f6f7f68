package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// WebhookGuard keeps Slack webhook calls off internal networks (no
// server-side request forgery): the URL must be https and its host must not
// resolve to a loopback, private, link-local, shared, multicast or
// unspecified address, which covers cloud metadata endpoints. It is checked
// when the URL is set (CheckURL) and again at every connection (Control,
// used by the dialer), which also defeats DNS rebinding.
type WebhookGuard struct {
	// AllowLoopback lets tests post to a server on 127.0.0.1 / ::1.
	AllowLoopback bool
	// Resolver resolves hosts for CheckURL and for the Slack sender's
	// connections (net.DefaultResolver when nil).
	Resolver *net.Resolver
}

// ErrForbiddenWebhook is returned for a URL or address the guard refuses.
var ErrForbiddenWebhook = errors.New("webhook URL not allowed")

var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),     // private
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, cloud metadata (169.254.169.254)
	netip.MustParsePrefix("172.16.0.0/12"),  // private
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("192.168.0.0/16"), // private
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("::/128"),         // unspecified
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 (embeds IPv4)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215, embeds IPv4)
	netip.MustParsePrefix("fc00::/7"),       // unique local, incl. fd00:ec2::254 metadata
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

// AllowedIP reports whether the guard lets a webhook connect to ip.
func (g WebhookGuard) AllowedIP(ip netip.Addr) bool {
	// A zone ("fe80::1%eth0") would make every Prefix.Contains below false.
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	if g.AllowLoopback && ip.IsLoopback() {
		return true
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckURL validates a webhook URL: https, a host, no credentials, and every
// address the host resolves to allowed.
func (g WebhookGuard) CheckURL(ctx context.Context, raw string) error {
	host, err := g.checkForm(raw)
	if err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !g.AllowedIP(ip) {
			return errNotPublic
		}
		return nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return errNotPublic
	}
	for _, a := range addrs {
		if !g.AllowedIP(a) {
			return errNotPublic
		}
	}
	return nil
}

// errNotPublic is CheckURL's one answer for a host that does not resolve
// and for one that resolves to an internal address. Any registered user
// can own a tenant and set its webhook, so the answer must not tell them
// which internal names exist or what addresses they have.
var errNotPublic = fmt.Errorf("%w: its host must resolve to public addresses only", ErrForbiddenWebhook)

// checkForm checks everything but the addresses and returns the host.
func (g WebhookGuard) checkForm(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: not a URL", ErrForbiddenWebhook)
	case u.Scheme != "https":
		return "", fmt.Errorf("%w: it must use https", ErrForbiddenWebhook)
	case u.Hostname() == "":
		return "", fmt.Errorf("%w: it has no host", ErrForbiddenWebhook)
	case u.User != nil:
		return "", fmt.Errorf("%w: it must not carry credentials", ErrForbiddenWebhook)
	}
	return u.Hostname(), nil
}

// Control is a net.Dialer Control function: it refuses to connect to an
// address the guard does not allow, whatever DNS said when the URL was set.
func (g WebhookGuard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unexpected address %q", ErrForbiddenWebhook, address)
	}
	if !g.AllowedIP(ap.Addr()) {
		return fmt.Errorf("%w: refusing to connect to %s", ErrForbiddenWebhook, ap.Addr().Unmap())
	}
	return nil
}
