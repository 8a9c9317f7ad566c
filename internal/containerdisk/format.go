package containerdisk

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Image formats QEMU is told explicitly (never probed: probing a raw image
// that looks like qcow2 is a known guest-escape vector).
const (
	FormatQCOW2 = "qcow2"
	FormatRaw   = "raw"
)

var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

// DetectFormat returns the image format and virtual size of an image of
// fileSize bytes: qcow2 by its magic (virtual size from the header),
// otherwise raw (virtual size = file size).
func DetectFormat(r io.ReaderAt, fileSize int64) (format string, virtualSize int64, err error) {
	hdr := make([]byte, 32)
	n, err := r.ReadAt(hdr, 0)
	if err != nil && err != io.EOF {
		return "", 0, fmt.Errorf("read image header: %w", err)
	}
	if n >= 32 && string(hdr[:4]) == string(qcow2Magic) {
		size := binary.BigEndian.Uint64(hdr[24:32])
		if size == 0 || size > 1<<62 {
			return "", 0, fmt.Errorf("qcow2 header: implausible virtual size %d", size)
		}
		return FormatQCOW2, int64(size), nil
	}
	if fileSize == 0 {
		return "", 0, fmt.Errorf("image is empty")
	}
	return FormatRaw, fileSize, nil
}
