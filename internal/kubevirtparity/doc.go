package kubevirtparity

import (
	"fmt"
	"strings"
)

// Markdown renders the table as docs/kubevirt-parity.md.
func Markdown(kubevirtVersion string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# KubeVirt parity: every VirtualMachineInstanceSpec and VirtualMachineSpec field

Generated from internal/kubevirtparity (go test ./internal/kubevirtparity -update);
do not edit by hand. The rows are every JSON field of KubeVirt's
VirtualMachineInstanceSpec in kubevirt.io/api %s, found by reflection. A test
fails when KubeVirt gains a field without a row here, another checks each row
against VirtMesh's CRD schema, and test/validation applies each row's sample to
a real API server (accepted, or rejected with the message shown). The
VirtualMachineSpec table below is held to the same tests.

- **%s**: VirtMesh runs it; the note says how.
- **%s**: accepted so KubeVirt manifests apply, with no effect; the note says why.
- **%s**: the API server refuses it with the message shown (a field below a
  rejected or ignored one shares its answer and has no row).

## VirtualMachineInstanceSpec

| field (under spec) | answer | how, why, or the message |
|---|---|---|
`, kubevirtVersion, Implemented, Ignored, Rejected)
	rows(&b, VMISpec)
	fmt.Fprintf(&b, `
## VirtualMachineSpec

Every JSON field of KubeVirt's VirtualMachineSpec outside %s, whose
fields are the VirtualMachineInstanceSpec's above.

| field (under spec) | answer | how, why, or the message |
|---|---|---|
`, "`template.spec`")
	rows(&b, VMSpec)
	return b.String()
}

func rows(b *strings.Builder, entries []Entry) {
	for _, e := range entries {
		note := e.Note
		if e.Answer == Rejected {
			note = "“" + note + "”"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", e.Path, e.Answer, strings.ReplaceAll(note, "|", `\|`))
	}
}
