package seal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// KeyFile reads the master keys of the file at path, newest first. When
// the file does not exist it creates it (mode 0600) holding one new key, as
// serve does beside an sqlite database with no key configured.
func KeyFile(path string, log *slog.Logger) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr != nil {
			return nil, fmt.Errorf("create master key file: %w", cerr)
		}
		key := NewKey()
		if _, cerr = f.WriteString(key + "\n"); cerr == nil {
			cerr = f.Sync()
		}
		if err := f.Close(); cerr == nil {
			cerr = err
		}
		if cerr != nil {
			return nil, fmt.Errorf("write master key file %s: %w", path, cerr)
		}
		log.Warn("created a master key file beside the database; back it up, without it no secret can be read", "path", path)
		b, err = []byte(key), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the master key file is readable by other users; chmod 600 it", "path", path)
	}
	keys, err := ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return keys, nil
}
