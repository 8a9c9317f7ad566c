package netsetup

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"

	"virtmesh.io/virtmesh/internal/dataplane"
)

// RestoreCommand is the binary that loads a rendered nat table for a
// family. Both replace the whole nat table in one transaction (no
// --noflush), which is what makes re-running net-setup idempotent.
func RestoreCommand(f dataplane.Family) string {
	if f == dataplane.IPv6 {
		return "ip6tables-restore"
	}
	return "iptables-restore"
}

// applyRules loads rules with one iptables-restore call.
func applyRules(ctx context.Context, f dataplane.Family, rules string) error {
	cmd := exec.CommandContext(ctx, RestoreCommand(f), "--wait")
	cmd.Stdin = bytes.NewBufferString(rules)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", RestoreCommand(f), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
