package podcontract

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// flagSpec binds one command-line flag to a field, so that rendering (Args)
// and parsing (Parse*Args) are driven by the same table and stay exact
// inverses of each other.
type flagSpec struct {
	name  string
	usage string
	value flagValue
}

// flagValue is a flag.Value that also renders its field back into zero or
// more "--name=value" arguments (list flags repeat, an unset optional list
// renders nothing).
type flagValue interface {
	flag.Value
	render(name string) []string
}

// renderFlags renders every flag, defaults included: the pod spec then shows
// the full contract explicitly and a changed default cannot silently apply
// to pods rendered earlier.
func renderFlags(specs []flagSpec) []string {
	out := make([]string, 0, len(specs))
	for _, f := range specs {
		out = append(out, f.value.render(f.name)...)
	}
	return out
}

// newFlagSet registers specs on a quiet FlagSet named name.
func newFlagSet(name string, specs ...[]flagSpec) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, list := range specs {
		for _, f := range list {
			fs.Var(f.value, f.name, f.usage)
		}
	}
	return fs
}

// parseFlags parses args into the fields specs point at. Fields keep their
// current values (the defaults) for absent flags. Positional arguments are
// rejected: the contract is flags only.
func parseFlags(name string, specs []flagSpec, args []string) error {
	return parseFlagSet(newFlagSet(name, specs), args)
}

func parseFlagSet(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}

func arg(name, value string) []string { return []string{"--" + name + "=" + value} }

type stringValue struct{ p *string }

func (v stringValue) String() string              { return derefOr(v.p, "") }
func (v stringValue) Set(s string) error          { *v.p = s; return nil }
func (v stringValue) render(name string) []string { return arg(name, *v.p) }

type boolValue struct{ p *bool }

func (v boolValue) String() string { return strconv.FormatBool(derefOr(v.p, false)) }
func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not a boolean", s)
	}
	*v.p = b
	return nil
}
func (v boolValue) IsBoolFlag() bool            { return true }
func (v boolValue) render(name string) []string { return arg(name, strconv.FormatBool(*v.p)) }

type durationValue struct{ p *time.Duration }

func (v durationValue) String() string { return derefOr(v.p, 0).String() }
func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.p = d
	return nil
}
func (v durationValue) render(name string) []string { return arg(name, v.p.String()) }

type int64Value struct{ p *int64 }

func (v int64Value) String() string { return strconv.FormatInt(derefOr(v.p, 0), 10) }
func (v int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v.p = n
	return nil
}
func (v int64Value) render(name string) []string { return arg(name, strconv.FormatInt(*v.p, 10)) }

type uint16Value struct{ p *uint16 }

func (v uint16Value) String() string { return strconv.Itoa(int(derefOr(v.p, 0))) }
func (v uint16Value) Set(s string) error {
	n, err := parseUint16(s)
	*v.p = n
	return err
}
func (v uint16Value) render(name string) []string { return arg(name, strconv.Itoa(int(*v.p))) }

type prefixValue struct{ p *netip.Prefix }

func (v prefixValue) String() string { return derefOr(v.p, netip.Prefix{}).String() }
func (v prefixValue) Set(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return err
	}
	*v.p = p
	return nil
}
func (v prefixValue) render(name string) []string { return arg(name, v.p.String()) }

// listValue is a repeatable flag: each occurrence appends one element, and
// rendering repeats the flag once per element, in order.
type listValue[T any] struct {
	p      *[]T
	parse  func(string) (T, error)
	format func(T) string
}

func (v listValue[T]) String() string { return fmt.Sprint(derefOr(v.p, nil)) }
func (v listValue[T]) Set(s string) error {
	e, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = append(*v.p, e)
	return nil
}
func (v listValue[T]) render(name string) []string {
	var out []string
	for _, e := range *v.p {
		out = append(out, arg(name, v.format(e))...)
	}
	return out
}

// uint16List is a repeatable port number.
func uint16List(p *[]uint16) listValue[uint16] {
	return listValue[uint16]{p: p, parse: parseUint16, format: func(n uint16) string { return strconv.Itoa(int(n)) }}
}

// prefixList is a repeatable CIDR.
func prefixList(p *[]netip.Prefix) listValue[netip.Prefix] {
	return listValue[netip.Prefix]{p: p, parse: netip.ParsePrefix, format: netip.Prefix.String}
}

// portList is a repeatable protocol:number, e.g. tcp:9080.
func portList(p *[]Port) listValue[Port] {
	return listValue[Port]{p: p, parse: ParsePort, format: Port.String}
}

// optionalCSV is one comma-separated flag whose absence (nil) and empty value
// (an empty, non-nil list) mean different things and survive the round trip.
type optionalCSV struct{ p *[]string }

func (v optionalCSV) String() string { return strings.Join(derefOr(v.p, nil), ",") }
func (v optionalCSV) Set(s string) error {
	*v.p = []string{}
	if s != "" {
		*v.p = strings.Split(s, ",")
	}
	return nil
}
func (v optionalCSV) render(name string) []string {
	if *v.p == nil {
		return nil
	}
	return arg(name, strings.Join(*v.p, ","))
}

func parseUint16(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number in 0..65535", s)
	}
	return uint16(n), nil
}

// derefOr guards flag.FlagSet's zero-value String calls (isZeroValue).
func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
