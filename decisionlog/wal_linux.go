package decisionlog

import (
	"os"

	"golang.org/x/sys/unix"
)

// preallocate gives f its blocks up to size, so that appending within it
// changes no file metadata and fdatasync writes the data alone.
func preallocate(f *os.File, size int64) error {
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err == nil {
		return nil
	}
	return f.Truncate(size) // a file system without fallocate: sparse
}

func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
