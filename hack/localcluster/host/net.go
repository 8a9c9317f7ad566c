package host

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
)

// IPTablesTables are the tables the teardown and the snapshots look at.
var IPTablesTables = []string{"filter", "nat", "mangle", "raw", "security"}

// IPTablesCommands are the two families' commands.
var IPTablesCommands = []string{"iptables", "ip6tables"}

// IPTablesRules returns `<cmd> -w -t <table> -S` as lines, or nil when the
// table does not exist for that family.
func IPTablesRules(cmd, table string) ([]string, error) {
	var stdout, stderr bytes.Buffer
	c := exec.Command(cmd, "-w", "-t", table, "-S")
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		msg := stderr.String()
		if strings.Contains(msg, "does not exist") || strings.Contains(msg, "Table does not exist") {
			return nil, nil
		}
		return nil, fmt.Errorf("%s -t %s -S: %v: %s", cmd, table, err, strings.TrimSpace(msg))
	}
	return strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n"), nil
}

// SplitRule splits one line of `iptables -S` into arguments, honouring the
// double quotes iptables puts around comments.
func SplitRule(line string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote = !inQuote
			have = true
		case c == ' ' && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// chainPlan is what deleting the chains with a prefix from one table takes.
type chainPlan struct {
	// deletes are rules in other chains that jump to a prefixed chain, as
	// arguments for `-D`.
	deletes [][]string
	// chains to flush and then delete.
	chains []string
}

// planChainDeletion reads `-S` lines and decides what to delete.
func planChainDeletion(lines []string, prefix string) chainPlan {
	var p chainPlan
	for _, l := range lines {
		args := SplitRule(l)
		if len(args) < 2 {
			continue
		}
		switch args[0] {
		case "-N":
			if strings.HasPrefix(args[1], prefix) {
				p.chains = append(p.chains, args[1])
			}
		case "-A":
			if strings.HasPrefix(args[1], prefix) {
				continue // flushed with its chain
			}
			for i := 2; i+1 < len(args); i++ {
				if (args[i] == "-j" || args[i] == "-g") && strings.HasPrefix(args[i+1], prefix) {
					p.deletes = append(p.deletes, append([]string{"-D"}, args[1:]...))
					break
				}
			}
		}
	}
	return p
}

// DeleteIPTablesChains deletes, in every table of both families, the rules
// that jump to chains named prefix* and then those chains.
func DeleteIPTablesChains(prefix string) error {
	if prefix == "" {
		return errors.New("empty chain prefix")
	}
	var errs []error
	for _, cmd := range IPTablesCommands {
		if _, err := exec.LookPath(cmd); err != nil {
			continue
		}
		for _, table := range IPTablesTables {
			lines, err := IPTablesRules(cmd, table)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p := planChainDeletion(lines, prefix)
			run := func(args ...string) {
				all := append([]string{"-w", "-t", table}, args...)
				if out, err := exec.Command(cmd, all...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %v: %s", cmd, strings.Join(all, " "), err, strings.TrimSpace(string(out))))
				}
			}
			for _, d := range p.deletes {
				run(d...)
			}
			for _, c := range p.chains {
				run("-F", c)
			}
			for _, c := range p.chains {
				run("-X", c)
			}
		}
	}
	return errors.Join(errs...)
}

// DeleteLink deletes the network interface name; a missing one is success.
func DeleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return netlink.LinkDel(l)
}

// Links lists the names of this network namespace's interfaces.
func Links() ([]string, error) {
	ls, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.Attrs().Name)
	}
	sort.Strings(out)
	return out, nil
}
