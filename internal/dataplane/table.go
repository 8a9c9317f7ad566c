package dataplane

import "strings"

// table accumulates one iptables-restore "*nat" section. Rules keep the
// order in which they were added, grouped by chain, base chains first.
type table struct {
	custom []string
	rules  map[string][]string
	order  []string
}

var baseChains = []string{"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}

func (t *table) chain(names ...string) { t.custom = append(t.custom, names...) }

func (t *table) comment(text string) {
	t.line("#", "# "+text)
}

func (t *table) add(chain string, args ...string) {
	t.line(chain, "-A "+chain+" "+strings.Join(args, " "))
}

func (t *table) line(chain, text string) {
	if t.rules == nil {
		t.rules = map[string][]string{}
	}
	t.rules[chain] = append(t.rules[chain], text)
	t.order = append(t.order, chain)
}

// String renders the table. Comments belong to the base chains and are
// printed with them, in order.
func (t *table) String() string {
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, c := range baseChains {
		b.WriteString(":" + c + " ACCEPT [0:0]\n")
	}
	for _, c := range t.custom {
		b.WriteString(":" + c + " - [0:0]\n")
	}
	// Base chains: interleave the comments with their rules as added.
	for _, text := range t.baseLines() {
		b.WriteString(text + "\n")
	}
	for _, c := range t.custom {
		for _, text := range t.rules[c] {
			b.WriteString(text + "\n")
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func (t *table) baseLines() []string {
	var out []string
	idx := map[string]int{}
	for _, c := range t.order {
		if c != "#" && !isBase(c) {
			continue
		}
		out = append(out, t.rules[c][idx[c]])
		idx[c]++
	}
	return out
}

func isBase(c string) bool {
	for _, b := range baseChains {
		if b == c {
			return true
		}
	}
	return false
}
