// Package logtail cuts command output and logs down to their last lines,
// for error messages and test failures that should show how something
// ended without pasting a whole log.
package logtail

import "strings"

// Last returns the last n lines of s (all of them if there are fewer),
// without a trailing newline.
func Last(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
