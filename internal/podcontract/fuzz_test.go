package podcontract_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// fuzzArgs splits a fuzz input into argv: NUL is the one byte an argument
// cannot hold (execve), so it separates them.
func fuzzArgs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

var equatePrefix = cmpopts.EquateComparable(netip.Prefix{})

// roundTrip checks that rendering parsed options and parsing them again
// gives the same options and the same argv.
func roundTrip[T any](t *testing.T, o T, args func(T) []string, parse func([]string) (T, error), opts ...cmp.Option) {
	t.Helper()
	a := args(o)
	for _, s := range a {
		if !strings.HasPrefix(s, "--") || !strings.Contains(s, "=") || strings.ContainsRune(s, 0) {
			t.Fatalf("rendered arg %q is not --name=value", s)
		}
	}
	back, err := parse(a)
	if err != nil {
		t.Fatalf("Parse(Args(%+v)) = %v\nargs: %q", o, err, a)
	}
	if diff := cmp.Diff(o, back, opts...); diff != "" {
		t.Fatalf("Parse(Args(o)) != o (-o +back):\n%s\nargs: %q", diff, a)
	}
	if again := args(back); !slices.Equal(a, again) {
		t.Fatalf("Args is not stable:\n%q\n%q", a, again)
	}
}

// FuzzNetSetupArgs parses arbitrary net-setup argv: it must not panic, and
// options that parse and validate render back into flags that parse to the
// same options, IncludeOutboundCIDRs' nil (capture all) and empty (capture
// nothing) kept apart.
func FuzzNetSetupArgs(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		o, err := podcontract.ParseNetSetupArgs(fuzzArgs(s))
		if err != nil || o.Validate() != nil {
			return
		}
		roundTrip(t, o, podcontract.NetSetupOptions.Args, podcontract.ParseNetSetupArgs, equatePrefix)
		back, _ := podcontract.ParseNetSetupArgs(o.Args())
		if o.Mesh != nil && (o.Mesh.IncludeOutboundCIDRs == nil) != (back.Mesh.IncludeOutboundCIDRs == nil) {
			t.Fatalf("IncludeOutboundCIDRs nil-ness lost: %#v, back %#v", o.Mesh.IncludeOutboundCIDRs, back.Mesh.IncludeOutboundCIDRs)
		}
	})
}

// FuzzComputeArgs: the same for compute's flags (ParseComputeArgs validates).
func FuzzComputeArgs(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		o, err := podcontract.ParseComputeArgs(fuzzArgs(s))
		if err != nil {
			return
		}
		roundTrip(t, o, podcontract.ComputeOptions.Args, podcontract.ParseComputeArgs, equatePrefix)
	})
}

// FuzzDiskHelperArgs: the same for a volume container's disk-helper flags.
func FuzzDiskHelperArgs(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		o, err := podcontract.ParseDiskHelperArgs(fuzzArgs(s))
		if err != nil {
			return
		}
		roundTrip(t, o, podcontract.DiskHelperOptions.Args, podcontract.ParseDiskHelperArgs)
	})
}
