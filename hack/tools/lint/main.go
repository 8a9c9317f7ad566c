// Command golangci-lint is golangci-lint with the Kube API Linter (KAL) module
// plugin compiled in: what `golangci-lint custom` would generate, written out
// so the build needs only the Go module proxy. hack/build-bins.sh builds it
// into bin/golangci-lint from the versions pinned in this module's go.mod;
// .golangci.yml at the repository root configures it.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/golangci/golangci-lint/v2/pkg/commands"
	"github.com/golangci/golangci-lint/v2/pkg/exitcodes"
	// Registers the "kubeapilinter" module plugin.
	_ "sigs.k8s.io/kube-api-linter"
)

func main() {
	info := commands.BuildInfo{Version: "unknown", Commit: "virtmesh hack/tools/lint", Date: "(pinned)", GoVersion: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.GoVersion = bi.GoVersion
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/golangci/golangci-lint/v2" {
				info.Version = dep.Version
			}
		}
	}
	if err := commands.Execute(info); err != nil {
		_, _ = fmt.Fprintf(os.Stderr, "The command is terminated due to an error: %v\n", err)
		os.Exit(exitcodes.Failure)
	}
}
