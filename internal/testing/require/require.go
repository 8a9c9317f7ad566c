// Package require stops a test that cannot run on this machine with a
// failure that names the command that would fix it. VirtMesh's suites never
// skip: `make test` installs what they need (hack/install-packages.sh) and
// runs as root, so a missing tool is a broken set-up, not a pass.
package require

import (
	"os"
	"os/exec"
	"testing"
)

// InstallHint is the command that installs every Debian package the suites use.
const InstallHint = "sudo hack/install-packages.sh (make test runs it)"

// Root fails the test unless it runs as root; why says what needs root.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("%s: run the tests as root (make test does, as CI does)", why)
	}
}

// Tools fails the test when a program is not in PATH.
func Tools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run %s", tool, InstallHint)
		}
	}
}
