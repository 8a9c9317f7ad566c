package launcher

import (
	"context"
	"io"
	"os"
	"time"
)

// followFile copies path to w as it grows (like tail -F from the start),
// until ctx ends; then it copies what is left and returns. It is how the
// guest's serial console reaches the container log: QEMU writes a file
// (which also survives for debugging), the launcher prints it.
func followFile(ctx context.Context, path string, w io.Writer) {
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	defer f.Close()
	for {
		_, _ = io.Copy(w, f)
		select {
		case <-ctx.Done():
			_, _ = io.Copy(w, f)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
