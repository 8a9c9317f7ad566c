// Command virt-launcher is the VirtMesh launcher image's multi-call binary.
// The first argument names the subcommand (net-setup, dhcp-server, ...);
// each subcommand lives in its own file and registers itself in init(), so
// the pod spec shows exactly which job each container runs.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	// The guest clock may start in a time zone (spec.domain.clock.timezone);
	// the launcher image has no zoneinfo of its own.
	_ "time/tzdata"
)

var subcommands = map[string]func(args []string) error{}

// register adds a subcommand. It panics on duplicates: that is a bug in the
// binary, not a runtime condition.
func register(name string, run func(args []string) error) {
	if _, dup := subcommands[name]; dup {
		panic(fmt.Sprintf("subcommand %q registered twice", name))
	}
	subcommands[name] = run
}

func main() {
	if err := dispatch(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

func dispatch(argv []string) error {
	if len(argv) < 2 {
		return fmt.Errorf("usage: %s SUBCOMMAND [FLAGS...]; subcommands: %s", filepath.Base(argv[0]), names())
	}
	run, ok := subcommands[argv[1]]
	if !ok {
		return fmt.Errorf("unknown subcommand %q; subcommands: %s", argv[1], names())
	}
	if err := run(argv[2:]); err != nil {
		return fmt.Errorf("%s: %w", argv[1], err)
	}
	return nil
}

func names() string {
	var n []string
	for k := range subcommands {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}
