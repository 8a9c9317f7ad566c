package dataplane

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// restoreArgv splits one iptables-restore line into arguments the way
// iptables-restore does (add_param_to_argv): blanks separate, double quotes
// group, a backslash escapes inside quotes.
func restoreArgv(line string) []string {
	var out []string
	var cur strings.Builder
	quoted, escaped, have := false, false, false
	for _, c := range line {
		switch {
		case quoted && escaped:
			cur.WriteRune(c)
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case quoted && c == '"':
			quoted = false
		case quoted:
			cur.WriteRune(c)
		case c == '"':
			quoted, have = true, true
		case c == ' ' || c == '\t' || c == '\n':
			if have || cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(c)
		}
	}
	if have || cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

var builtinTargets = []string{"RETURN", "DNAT", "SNAT", "MASQUERADE", "REDIRECT"}

// checkRestore reads rules as iptables-restore would, as far as that is
// possible without the kernel: the *nat/COMMIT frame, chain declarations
// before rules, each rule "-A <declared chain>" followed by options this
// renderer uses, each with a value of the right form: one of the pod's
// interface names (exactly: iptables reads a trailing + as a wildcard and a
// lone ! as a negation), an address or prefix of the family, a port, a
// declared chain or a built-in target, a uid that iptables accepts.
func checkRestore(t *testing.T, rules string, c podcontract.NetSetupOptions, fam Family) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(rules, "\n"), "\n")
	if !strings.HasSuffix(rules, "\n") || len(lines) < 3 || lines[0] != "*nat" || lines[len(lines)-1] != "COMMIT" {
		t.Fatalf("not one *nat ... COMMIT table:\n%s", rules)
	}
	declared := map[string]bool{}
	ifaces := []string{c.PodInterface, c.Bridge, c.Tap, "lo"}
	rulesSeen := false
	for _, line := range lines[1 : len(lines)-1] {
		if strings.HasPrefix(line, "# ") && !strings.ContainsAny(line, "\r\x00") {
			continue
		}
		argv := restoreArgv(line)
		if !slices.Equal(argv, strings.Split(line, " ")) {
			t.Fatalf("iptables-restore splits %q into %q", line, argv)
		}
		if strings.HasPrefix(line, ":") {
			if rulesSeen || len(argv) != 3 || argv[2] != "[0:0]" || declared[argv[0][1:]] {
				t.Fatalf("bad chain declaration %q", line)
			}
			name := argv[0][1:]
			if policy := argv[1]; (policy == "ACCEPT") != slices.Contains(baseChains, name) || (policy != "ACCEPT" && policy != "-") {
				t.Fatalf("chain %s has policy %s", name, policy)
			}
			declared[name] = true
			continue
		}
		rulesSeen = true
		if len(argv) < 4 || argv[0] != "-A" || !declared[argv[1]] {
			t.Fatalf("rule %q does not append to a declared chain", line)
		}
		checkRuleOptions(t, line, argv[2:], declared, ifaces, fam)
	}
}

func checkRuleOptions(t *testing.T, line string, opts []string, declared map[string]bool, ifaces []string, fam Family) {
	t.Helper()
	bad := func(what string) { t.Fatalf("rule %q: %s", line, what) }
	hasTarget := false
	for i := 0; i < len(opts); i++ {
		opt := opts[i]
		if opt == "!" {
			if i+1 == len(opts) || !strings.HasPrefix(opts[i+1], "-") {
				bad("! negates no option")
			}
			continue
		}
		if i+1 == len(opts) {
			bad(opt + " has no value")
		}
		i++
		v := opts[i]
		switch opt {
		case "-i", "-o":
			if !slices.Contains(ifaces, v) || strings.HasSuffix(v, "+") || strings.HasPrefix(v, "!") || v == "" {
				bad("interface " + strconv.Quote(v) + " is not matched literally by iptables")
			}
		case "-s", "-d":
			p, err := netip.ParsePrefix(v)
			if err != nil || !fam.has(p.Addr()) || p != p.Masked() {
				bad("address " + v + " is not a " + fam.String() + " network")
			}
		case "--to-destination", "--to-source":
			a, err := netip.ParseAddr(v)
			if err != nil || !fam.has(a) {
				bad("address " + v + " is not a " + fam.String() + " address")
			}
		case "-p":
			if v != "tcp" && v != "udp" {
				bad("protocol " + v)
			}
		case "-m":
			if v != "multiport" && v != "owner" {
				bad("match " + v)
			}
		case "--dport", "--to-ports":
			if n, err := strconv.ParseUint(v, 10, 16); err != nil || n == 0 {
				bad("port " + v)
			}
		case "--dports":
			ports := strings.Split(v, ",")
			if len(ports) > 15 {
				bad("multiport takes at most 15 ports")
			}
			for _, p := range ports {
				if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
					bad("port " + p)
				}
			}
		case "--uid-owner", "--gid-owner":
			// iptables' owner match: 0 to 2^32-2.
			if n, err := strconv.ParseUint(v, 10, 32); err != nil || n > 1<<32-2 {
				bad("owner id " + v + " is not one iptables accepts")
			}
		case "-j":
			if !declared[v] && !slices.Contains(builtinTargets, v) {
				bad("target " + v + " is neither declared nor built in")
			}
			hasTarget = true
		default:
			bad("unexpected option " + opt)
		}
	}
	if !hasTarget {
		bad("no target")
	}
}

// FuzzRenderRules renders the nat table of both families for fuzzed
// net-setup options (decoded by the flag parser, as net-setup does) that
// pass Validate, and fuzzed pod IPs. A valid config must render (in the mesh
// once the pod has an address of the family), twice the same, into text
// iptables-restore reads as intended (checkRestore).
func FuzzRenderRules(f *testing.F) {
	f.Fuzz(func(t *testing.T, args, podIPs string) {
		var argv []string
		if args != "" {
			argv = strings.Split(args, "\x00")
		}
		c, err := podcontract.ParseNetSetupArgs(argv)
		if err != nil || c.Validate() != nil {
			return
		}
		var ips []netip.Addr
		for _, s := range strings.Split(podIPs, ",") {
			if a, err := netip.ParseAddr(s); err == nil {
				ips = append(ips, a)
			}
		}
		for _, fam := range []Family{IPv4, IPv6} {
			rules, err := RenderRules(c, fam, ips...)
			if err != nil {
				hasIP := slices.ContainsFunc(ips, fam.has)
				if c.Mesh == nil || hasIP {
					t.Fatalf("RenderRules(%s) = %v for a valid config, pod IPs %v", fam, err, ips)
				}
				continue
			}
			if again, _ := RenderRules(c, fam, ips...); again != rules {
				t.Fatalf("RenderRules(%s) is not deterministic", fam)
			}
			checkRestore(t, rules, c, fam)
		}
	})
}
