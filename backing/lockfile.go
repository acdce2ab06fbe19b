package backing

import "golang.org/x/sys/unix"

// lockFile is P.lock, taken with flock(2) on a descriptor opened with
// openat on P's parent directory: never by a path through the mount or
// /proc, and never following a symlink. It is opened (created if needed)
// at the first TryLock.
type lockFile struct {
	pfd  int
	name string
	fd   int // -1 until opened
}

func newLockFile(pfd int, name string) *lockFile { return &lockFile{pfd: pfd, name: name, fd: -1} }

// TryLock takes flock(LOCK_EX) without waiting: false when another open
// file description holds a lock on it.
func (l *lockFile) TryLock() (bool, error) {
	if l.fd < 0 {
		fd, err := unix.Openat(l.pfd, l.name, unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return false, err
		}
		l.fd = fd
	}
	for {
		err := unix.Flock(l.fd, unix.LOCK_EX|unix.LOCK_NB)
		switch err {
		case nil:
			return true, nil
		case unix.EINTR:
			continue
		case unix.EWOULDBLOCK:
			return false, nil
		default:
			return false, err
		}
	}
}

// Unlock releases the lock; Close does too.
func (l *lockFile) Unlock() {
	if l.fd >= 0 {
		unix.Flock(l.fd, unix.LOCK_UN)
	}
}

// Close closes the descriptor, releasing the lock.
func (l *lockFile) Close() {
	if l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}
