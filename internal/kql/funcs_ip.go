package kql

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// This file holds the IP address functions detection content calls beyond those of funcs.go:
// IPv4 addresses as longs and back, netmask suffixes, matching against several ranges, the
// IPv6 comparisons (which take IPv4 addresses too), and looking for addresses in text.
//
// An address may carry a netmask suffix in CIDR notation (192.168.1.1/24); where a function
// also takes a prefix argument, the shorter of the two masks applies, as the cloud documents.

var kIPv4 = argKind{TypeString, TypeInt, TypeLong}

// registerIPFuncs adds this file's functions to the table built in funcs.go.
func registerIPFuncs(m map[string]fnSpec) {
	m["parse_ipv4"] = fnSpec{min: 1, max: 1, ret: checked(TypeLong, kString), impl: func(a []any) any {
		p, ok := ipv4Masked(a[0], nil)
		if !ok {
			return nil
		}
		return ipv4Long(p.Addr())
	}}
	m["parse_ipv4_mask"] = fnSpec{min: 2, max: 2, ret: checked(TypeLong, kString, kInteger), impl: func(a []any) any {
		if a[1] == nil {
			return nil
		}
		p, ok := ipv4Masked(a[0], a[1])
		if !ok {
			return nil
		}
		return ipv4Long(p.Addr())
	}}
	m["format_ipv4"] = fnSpec{min: 1, max: 2, ret: checked(TypeString, kIPv4, kInteger), impl: func(a []any) any {
		p, ok := ipv4Masked(a[0], optPrefix(a))
		if !ok {
			return ""
		}
		return p.Addr().String()
	}}
	m["format_ipv4_mask"] = fnSpec{min: 1, max: 2, ret: checked(TypeString, kIPv4, kInteger), impl: func(a []any) any {
		p, ok := ipv4Masked(a[0], optPrefix(a))
		if !ok {
			return ""
		}
		return p.String()
	}}
	m["ipv4_netmask_suffix"] = fnSpec{min: 1, max: 1, ret: checked(TypeLong, kString), impl: func(a []any) any {
		p, ok := ipv4Masked(a[0], nil)
		if !ok {
			return nil
		}
		return int64(p.Bits())
	}}
	m["ipv4_is_in_any_range"] = fnSpec{min: 2, max: 64, ret: checked(TypeBool, kString, argKind{TypeString, TypeDynamic}), bind: bindIPv4InAnyRange}
	m["ipv6_compare"] = fnSpec{min: 2, max: 3, ret: checked(TypeLong, kString, kString, kInteger), impl: func(a []any) any {
		x, y, ok := ipv6Pair(a)
		if !ok {
			return nil
		}
		return int64(x.Compare(y))
	}}
	m["ipv6_is_match"] = fnSpec{min: 2, max: 3, ret: checked(TypeBool, kString, kString, kInteger), impl: func(a []any) any {
		x, y, ok := ipv6Pair(a)
		if !ok {
			return nil
		}
		return x == y
	}}
	m["parse_ipv6"] = fnSpec{min: 1, max: 1, ret: checked(TypeString, kString), impl: func(a []any) any {
		return canonicalIPv6(a[0], nil)
	}}
	m["parse_ipv6_mask"] = fnSpec{min: 2, max: 2, ret: checked(TypeString, kString, kInteger), impl: func(a []any) any {
		if a[1] == nil {
			return ""
		}
		return canonicalIPv6(a[0], a[1])
	}}
	m["ipv6_is_in_range"] = fnSpec{min: 2, max: 2, ret: checked(TypeBool, kString, kString), impl: func(a []any) any {
		return ipv6InAnyRange(a[0], a[1:])
	}}
	m["ipv6_is_in_any_range"] = fnSpec{min: 2, max: 64, ret: checked(TypeBool, kString, argKind{TypeString, TypeDynamic}), impl: func(a []any) any {
		return ipv6InAnyRange(a[0], flattenArgs(a[1:]))
	}}
	hasAny := m["has_any_ipv4"].impl
	m["has_ipv4"] = fnSpec{min: 2, max: 2, ret: checked(TypeBool, kString, kString), impl: func(a []any) any {
		if _, ok := parseIPv4(str(a[1])); !ok {
			return false
		}
		return hasAny(a)
	}}
	m["has_ipv4_prefix"] = fnSpec{min: 2, max: 2, ret: checked(TypeBool, kString, kString), impl: hasIPv4Prefix}
	m["has_any_ipv4_prefix"] = fnSpec{min: 2, max: 64, ret: checked(TypeBool, kString, argKind{TypeString, TypeDynamic}), impl: hasIPv4Prefix}
}

func optPrefix(a []any) any {
	if len(a) > 1 {
		if a[1] == nil {
			return int64(-1) // a null prefix is no prefix at all
		}
		return a[1]
	}
	return nil
}

// ipv4Masked reads an IPv4 address, as a string with an optional suffix or as a long in
// big-endian order, masked by the shorter of its suffix and prefix (0 to 32) when given.
func ipv4Masked(v, prefix any) (netip.Prefix, bool) {
	var p netip.Prefix
	switch x := v.(type) {
	case string:
		var ok bool
		if p, ok = parsePrefix(x); !ok {
			return netip.Prefix{}, false
		}
	case int64:
		if x < 0 || x > 0xffffffff {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), 32)
	default:
		return netip.Prefix{}, false
	}
	if prefix != nil {
		n, ok := prefix.(int64)
		if !ok || n < 0 || n > 32 {
			return netip.Prefix{}, false
		}
		if int(n) < p.Bits() {
			p, _ = p.Addr().Prefix(int(n))
		}
	}
	return p, true
}

func ipv4Long(a netip.Addr) int64 {
	b := a.As4()
	return int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
}

// ipv6Prefix reads an IPv6 or IPv4 address with an optional suffix as an IPv6 prefix: an IPv4
// address is the IPv4-mapped IPv6 address, its suffix counted from bit 96.
func ipv6Prefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	addr, bits := s, -1
	if i := strings.IndexByte(s, '/'); i >= 0 {
		n, err := strconv.Atoi(s[i+1:])
		if err != nil || n < 0 {
			return netip.Prefix{}, false
		}
		addr, bits = s[:i], n
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	if a.Is4() {
		if bits > 32 {
			return netip.Prefix{}, false
		}
		if bits >= 0 {
			bits += 96
		}
		a = netip.AddrFrom16(a.As16())
	}
	if bits < 0 {
		bits = 128
	}
	if bits > 128 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, bits), true
}

// canonicalIPv6 is parse_ipv6 and parse_ipv6_mask: the address, masked by the shorter of its
// suffix and prefix (0 to 128), as eight groups of four lower-case hex digits; "" when it is
// not an address, as the cloud documents.
func canonicalIPv6(v, prefix any) any {
	s, ok := v.(string)
	if !ok {
		return ""
	}
	p, ok := ipv6Prefix(s)
	if !ok {
		return ""
	}
	bits := p.Bits()
	if prefix != nil {
		n, ok := prefix.(int64)
		if !ok || n < 0 || n > 128 {
			return ""
		}
		bits = min(bits, int(n))
	}
	masked, _ := p.Addr().Prefix(bits)
	b := masked.Addr().As16()
	var out strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			out.WriteByte(':')
		}
		fmt.Fprintf(&out, "%02x%02x", b[i], b[i+1])
	}
	return out.String()
}

// ipv6InAnyRange is ipv6_is_in_range and ipv6_is_in_any_range: null when the address, or a
// range, is not one.
func ipv6InAnyRange(ip any, ranges []any) any {
	s, ok := ip.(string)
	if !ok {
		return nil
	}
	p, ok := ipv6Prefix(s)
	if !ok {
		return nil
	}
	in := false
	for _, r := range ranges {
		rs, ok := r.(string)
		if !ok {
			return nil
		}
		rp, ok := ipv6Prefix(rs)
		if !ok {
			return nil
		}
		if masked, _ := rp.Addr().Prefix(rp.Bits()); masked.Contains(p.Addr()) {
			in = true
		}
	}
	return in
}

// ipv6Pair reads the two addresses of ipv6_compare and ipv6_is_match, masked alike by the
// shortest of their suffixes and the prefix argument (0 to 128).
func ipv6Pair(a []any) (netip.Addr, netip.Addr, bool) {
	x, ok1 := ipv6Prefix(str(a[0]))
	y, ok2 := ipv6Prefix(str(a[1]))
	if a[0] == nil || a[1] == nil || !ok1 || !ok2 {
		return netip.Addr{}, netip.Addr{}, false
	}
	bits := min(x.Bits(), y.Bits())
	if len(a) == 3 {
		n, ok := a[2].(int64)
		if !ok || n < 0 || n > 128 {
			return netip.Addr{}, netip.Addr{}, false
		}
		bits = min(bits, int(n))
	}
	mx, _ := x.Addr().Prefix(bits)
	my, _ := y.Addr().Prefix(bits)
	return mx.Addr(), my.Addr(), true
}

// flattenArgs spreads the arrays among a function's arguments into their elements.
// bindIPv4InAnyRange is ipv4_is_in_any_range. Ranges given as constants, as a detection
// rule's are, are parsed once rather than on every row.
func bindIPv4InAnyRange(cs []cexpr) func([]any) any {
	konst := true
	for _, c := range cs[1:] {
		konst = konst && c.konst
	}
	var fixed []netip.Prefix
	if konst {
		args := make([]any, len(cs)-1)
		for i, c := range cs[1:] {
			args[i] = c.value()
		}
		fixed = ipv4Prefixes(args)
	}
	return func(a []any) any {
		ip, ok := parseIPv4(str(a[0]))
		if !ok {
			return nil
		}
		ranges := fixed
		if !konst {
			ranges = ipv4Prefixes(a[1:])
		}
		for _, p := range ranges {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
}

// ipv4Prefixes reads the IPv4 ranges among args (strings, or arrays of them); it skips
// anything that is not one.
func ipv4Prefixes(args []any) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range flattenArgs(args) {
		if p, ok := parsePrefix(str(r)); ok {
			out = append(out, p)
		}
	}
	return out
}

func flattenArgs(args []any) []any {
	var out []any
	for _, v := range args {
		if arr, ok := v.([]any); ok {
			out = append(out, arr...)
		} else {
			out = append(out, v)
		}
	}
	return out
}

// hasIPv4Prefix is has_ipv4_prefix and has_any_ipv4_prefix: whether the text holds an IPv4
// address, standing as a term of its own, that starts with one of the prefixes. A prefix is a
// whole address or its first one to three parts ending with a dot (10., 10.0., 10.0.0.);
// anything else matches nothing.
func hasIPv4Prefix(a []any) any {
	text := str(a[0])
	var prefixes []string
	for _, p := range flattenArgs(a[1:]) {
		if s := str(p); validIPv4Prefix(s) {
			prefixes = append(prefixes, s)
		}
	}
	for _, m := range ipv4Re.FindAllStringIndex(text, -1) {
		if !standsAlone(text, m[0], m[1]) {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(text[m[0]:m[1]], p) {
				if _, ok := parseIPv4(text[m[0]:m[1]]); ok {
					return true
				}
			}
		}
	}
	return false
}

func validIPv4Prefix(p string) bool {
	if _, ok := parseIPv4(p); ok {
		return true
	}
	parts := strings.Split(p, ".")
	if len(parts) < 2 || len(parts) > 4 || parts[len(parts)-1] != "" {
		return false
	}
	for _, part := range parts[:len(parts)-1] {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || n > 255 || strconv.Itoa(n) != part {
			return false
		}
	}
	return true
}

// standsAlone tells that text[i:j], an address, is not part of a longer dotted or
// alphanumeric token, as has_any_ipv4 requires of the addresses it finds.
func standsAlone(text string, i, j int) bool {
	if i > 0 && (isTermChar(text[i-1]) || text[i-1] == '.') {
		return false
	}
	return j >= len(text) || !(isTermChar(text[j]) || text[j] == '.' && j+1 < len(text) && isDigit(text[j+1]))
}
