package host

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/journal"
)

// Undo performs one journal step on this host (journal.Undoer).
var Undo journal.UndoFunc = undo

func undo(s journal.Step) error {
	grace := s.Grace
	if grace == 0 {
		grace = 10 * time.Second
	}
	switch s.Kind {
	case journal.StopProcess:
		return Stop(s.PID, s.StartTime, grace)
	case journal.StopProcessesByArg:
		if s.Arg == "" || s.Name == "" {
			return errors.New("stop-processes-by-arg needs a name and an argument")
		}
		return StopByArg(s.Name, s.Arg, grace)
	case journal.KillCgroupProcesses:
		return KillCgroup(s.Name, 30*time.Second)
	case journal.RemoveCgroups:
		return RemoveCgroup(s.Name, 30*time.Second)
	case journal.Unmount:
		return UnmountUnder(s.Path)
	case journal.RemovePath:
		return RemoveAll(s.Path)
	case journal.RemoveNewEntries:
		return RemoveNewEntries(s.Path, s.Pattern, s.Keep, s.Existed)
	case journal.DeleteIPTablesChains:
		return DeleteIPTablesChains(s.Prefix)
	case journal.DeleteLink:
		return DeleteLink(s.Name)
	case journal.RestoreSysctl:
		return WriteSysctl(s.Name, s.Value)
	case journal.RunCommand:
		if len(s.Command) == 0 {
			return errors.New("run-command without a command")
		}
		out, err := exec.Command(s.Command[0], s.Command[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	default:
		return fmt.Errorf("unknown step kind %q", s.Kind)
	}
}
