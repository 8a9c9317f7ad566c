package launcher

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
)

// flagSpec binds one command-line flag to a field, so that rendering
// (Args) and parsing (Parse*Args) are driven by the same table and stay
// exact inverses of each other.
type flagSpec struct {
	name  string
	usage string
	str   *string
	dur   *time.Duration
	bool  *bool
}

// render returns "--name=value" for the field's current value.
func (f flagSpec) render() string {
	switch {
	case f.str != nil:
		return "--" + f.name + "=" + *f.str
	case f.dur != nil:
		return "--" + f.name + "=" + f.dur.String()
	default:
		return "--" + f.name + "=" + strconv.FormatBool(*f.bool)
	}
}

// renderFlags renders every flag, defaults included: the pod spec then shows
// the full contract explicitly and a changed default cannot silently apply
// to pods rendered earlier.
func renderFlags(specs []flagSpec) []string {
	out := make([]string, 0, len(specs))
	for _, f := range specs {
		out = append(out, f.render())
	}
	return out
}

// parseFlags parses args into the fields specs point at. Fields keep their
// current values (the defaults) for flags that are absent. Positional
// arguments are rejected: the contract is flags only.
func parseFlags(name string, specs []flagSpec, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range specs {
		switch {
		case f.str != nil:
			fs.StringVar(f.str, f.name, *f.str, f.usage)
		case f.dur != nil:
			fs.DurationVar(f.dur, f.name, *f.dur, f.usage)
		default:
			fs.BoolVar(f.bool, f.name, *f.bool, f.usage)
		}
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", name, fs.Args())
	}
	return nil
}
