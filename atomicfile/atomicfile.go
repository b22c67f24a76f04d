// Package atomicfile replaces files whole: a crash or a full disk leaves
// the old content or the new one, never half of each. Every file sipprot
// writes for the operator or for itself (lists, config, state) goes
// through it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data: a temporary file ".NAME.<digits>" in the
// same directory (created if missing, mode 0750), written, given perm,
// synced, then renamed over path, and the directory synced so the rename
// survives a crash.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteOwned(path, data, perm, -1, -1)
}

// WriteOwned is Write that also gives the file the owner uid and group
// gid (-1 keeps the writer's), so an edit keeps root:sipprot and the
// like. A failed chown (not root) is not an error: the writer's own
// ownership is all a non-root user can give.
func WriteOwned(path string, data []byte, perm os.FileMode, uid, gid int) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && (uid >= 0 || gid >= 0) {
		_ = f.Chown(uid, gid)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the creations, renames and removals in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
