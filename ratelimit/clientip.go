package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address of the client that sent r. The peer address
// (r.RemoteAddr) is the client address unless it is one of the trusted
// proxies. Only then is the forwarding header read. Its hops are walked from
// the right (the hop the nearest proxy appended), and the walk stops at the
// first address that is not a trusted proxy. Hops to the left of that address were written
// by the client or by untrusted parties and are never used. When every hop
// is trusted the leftmost one is the client; an unparsable hop stops the
// walk at the last address read. ok is false when RemoteAddr is not an IP
// address, which happens only with unusual listeners.
func clientIP(r *http.Request, trusted []netip.Prefix, header string) (addr netip.Addr, ok bool) {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !isTrusted(peer, trusted) {
		return peer, true
	}
	var hops []string
	if strings.EqualFold(header, "Forwarded") {
		hops = forwardedFor(r.Header.Values("Forwarded"))
	} else {
		hops = xForwardedFor(r.Header.Values(header))
	}
	addr = peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHost(hops[i])
		if !ok {
			break
		}
		addr = hop
		if !isTrusted(hop, trusted) {
			break
		}
	}
	return addr, true
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// xForwardedFor splits X-Forwarded-For values ("client, proxy1, proxy2",
// possibly over several header lines) into hops, left to right.
func xForwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for hop := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// forwardedFor returns the for= parameter of each element of RFC 7239
// Forwarded values, left to right. An element without for= yields "",
// which stops the walk like any unparsable hop.
func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for element := range strings.SplitSeq(v, ",") {
			hop := ""
			for pair := range strings.SplitSeq(element, ";") {
				name, value, found := strings.Cut(strings.TrimSpace(pair), "=")
				if found && strings.EqualFold(strings.TrimSpace(name), "for") {
					hop = strings.Trim(strings.TrimSpace(value), `"`)
					break
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// parseHost parses an IP address with or without a port, in the forms
// "192.0.2.1", "192.0.2.1:80", "2001:db8::1", "[2001:db8::1]" and
// "[2001:db8::1]:80". IPv4-mapped IPv6 addresses become IPv4 and zones are
// dropped, so that one client always yields one key.
func parseHost(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if addr, err := netip.ParseAddr(s); err == nil {
		return addr.Unmap().WithZone(""), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap().WithZone(""), true
}
