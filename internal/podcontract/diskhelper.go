package podcontract

import "fmt"

// DiskHelperOptions is a containerDisk volume container's contract: it runs
// HelperBinaryPath SubcommandDiskHelper with these args inside the user's
// image.
type DiskHelperOptions struct {
	// DiskPath is the image file, or a directory holding exactly one.
	DiskPath string
	// Socket is where the helper listens (DiskSocketPath).
	Socket string
	// TerminationLog gets the reason when the disk is missing/unreadable.
	TerminationLog string
}

// DefaultDiskHelperOptions returns the helper's defaults; Socket has none
// because it depends on the volume name.
func DefaultDiskHelperOptions() DiskHelperOptions {
	return DiskHelperOptions{DiskPath: DefaultContainerDiskPath, TerminationLog: DefaultTerminationLog}
}

func (o *DiskHelperOptions) flags() []flagSpec {
	return []flagSpec{
		{"disk", "disk image (or directory with one) inside the container image", stringValue{&o.DiskPath}},
		{"socket", "unix socket to hand the disk's fd out on", stringValue{&o.Socket}},
		{"termination-log", "where the failure reason is written", stringValue{&o.TerminationLog}},
	}
}

// Args renders o as the disk-helper subcommand's arguments.
func (o DiskHelperOptions) Args() []string { return renderFlags(o.flags()) }

// ParseDiskHelperArgs is the exact inverse of DiskHelperOptions.Args.
func ParseDiskHelperArgs(args []string) (DiskHelperOptions, error) {
	o := DefaultDiskHelperOptions()
	if err := parseFlags(SubcommandDiskHelper, o.flags(), args); err != nil {
		return DiskHelperOptions{}, err
	}
	if o.DiskPath == "" || o.Socket == "" {
		return DiskHelperOptions{}, fmt.Errorf("%s: --disk and --socket are required", SubcommandDiskHelper)
	}
	return o, nil
}

// DiskHelperCommand is the full command of volume's container: the copied
// helper binary, the subcommand and its args. diskPath is the VMI's
// containerDisk.path ("" for DefaultContainerDiskPath).
func DiskHelperCommand(volume, diskPath string) []string {
	o := DefaultDiskHelperOptions()
	if diskPath != "" {
		o.DiskPath = diskPath
	}
	o.Socket = DiskSocketPath(SocketsMountPath, volume)
	return append([]string{HelperBinaryPath, SubcommandDiskHelper}, o.Args()...)
}

// DiskHelperInstallArgs are the helper-install init container's args (after
// LauncherBinary): copy itself to HelperBinaryPath.
func DiskHelperInstallArgs() []string {
	return []string{SubcommandDiskHelperInstall, "--dest=" + HelperBinaryPath}
}
