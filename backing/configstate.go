package backing

import (
	"sync"
	"sync/atomic"
)

// configState is Dir's configuration: the one in force, the command
// line's it is built over, and its reloads (configload.go). Nothing else
// of Dir is under its lock.
type configState struct {
	cur      atomic.Pointer[Config] // in force: cmdline with the config file over it, swapped whole
	cmdline  Config                 // the command line's, defaults filled in (set at Open)
	fallback string                 // why the mount uses the last good config file, if it does (set at Open)

	mu       sync.Mutex   // one reload at a time
	onChange func(Config) // told of each configuration applied (under mu)
}

// Load returns the configuration in force, shared: the caller must not
// change it (Dir.Config returns a copy).
func (c *configState) Load() *Config { return c.cur.Load() }

// Store puts cfg in force, whole.
func (c *configState) Store(cfg *Config) { c.cur.Store(cfg) }
