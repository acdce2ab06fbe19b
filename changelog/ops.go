package changelog

// The ops paracfs writes in Entry.Op, and in change_type. This is their
// one list: the daemon writes these constants, and paracfs log offers and
// colours the names Ops and KindOf give. The list is open: readers must
// accept any op (paracle's own lines, a newer paracfs).
const (
	// Changes of content.
	OpCommit   = "commit"   // an update of an existing managed file
	OpCreate   = "create"   // the first commit of a new managed file
	OpApply    = "apply"    // a refused write committed by paracfs rejected apply
	OpRename   = "rename"   // a managed file renamed onto a managed name (From is the source)
	OpTruncate = "truncate" // truncate(P, n) by path
	OpRestore  = "restore"  // a commit of an old version's bytes (paracfs restore, or a stale write that is one)
	OpImport   = "import"   // a file of DIR brought into the store, or a version another mount committed
	OpDelete   = "delete"   // a managed file was unlinked, or renamed to a scratch name
	OpMove     = "move"     // a managed file moved with its directory (From is the old path)

	// Refusals: the write (or rename, removal, truncate) did not happen.
	OpConflict         = "conflict"          // the write's base revision is not current
	OpInvalid          = "invalid"           // the content does not validate
	OpTooLarge         = "too_large"         // the content exceeds a size limit
	OpLockTimeout      = "lock_timeout"      // the file's lock was not obtained in time
	OpLockBusy         = "lock_busy"         // a rename or removal found the lock held through the mount
	OpLockSymlink      = "lock_symlink"      // the file's lock file is a symlink
	OpLockNotFile      = "lock_not_file"     // the file's lock file is a FIFO, a directory or a device
	OpAppendOnly       = "append_only"       // a rewrite, truncation, removal or rename of the change log
	OpReadOnly         = "read_only"         // a write inside .paracfs/
	OpNoSpace          = "no_space"          // the backing filesystem is full (ENOSPC, EDQUOT)
	OpReadOnlyFS       = "read_only_fs"      // the backing filesystem is read-only
	OpIOError          = "io_error"          // the backing filesystem reported an I/O error
	OpIsDir            = "is_directory"      // a directory took the file's name
	OpStoreUnavailable = "store_unavailable" // the store did not take the commit

	// Work on refused writes and on the log itself.
	OpDrop   = "drop"   // a refused write thrown away
	OpPrune  = "prune"  // old log entries (or history versions) removed
	OpRotate = "rotate" // the log moved to LOG.1

	// What the daemon noticed or did on its own account.
	OpExternal    = "external"     // a change made behind the mount's back was noticed
	OpRecover     = "recover"      // repaired at start: temp files, a torn line, a commit without its line
	OpWarning     = "warning"      // something the daemon could not do, and went on without
	OpMigrate     = "migrate"      // an older paracfs's DIR/.paracfs moved beside DIR
	OpConfig      = "config"       // paracfs.yaml applied, or the change log moving
	OpConfigError = "config_error" // a paracfs.yaml that does not load: the configuration in force is kept
	OpStore       = "store"        // the mount joined a store
	OpResync      = "resync"       // the mount brought DIR up to the whole store
)

// Kind groups ops by what they tell.
type Kind int

const (
	KindOther   Kind = iota // an op not listed, or the daemon's housekeeping (config, migrate, store)
	KindChange              // new content committed
	KindRefusal             // something refused: a write, a change to the log, a paracfs.yaml
	KindAway                // a name gone, moved or cut, or log entries removed
	KindNote                // what the daemon noticed or repaired
)

// ops is every op with its kind, in the order Ops lists them.
var ops = []struct {
	name string
	kind Kind
}{
	{OpCommit, KindChange}, {OpCreate, KindChange}, {OpApply, KindChange}, {OpRename, KindAway},
	{OpTruncate, KindAway}, {OpRestore, KindChange}, {OpImport, KindChange}, {OpDelete, KindAway}, {OpMove, KindAway},
	{OpConflict, KindRefusal}, {OpInvalid, KindRefusal}, {OpTooLarge, KindRefusal}, {OpLockTimeout, KindRefusal},
	{OpLockBusy, KindRefusal}, {OpLockSymlink, KindRefusal}, {OpLockNotFile, KindRefusal}, {OpAppendOnly, KindRefusal},
	{OpReadOnly, KindRefusal}, {OpNoSpace, KindRefusal}, {OpReadOnlyFS, KindRefusal}, {OpIOError, KindRefusal},
	{OpIsDir, KindRefusal}, {OpStoreUnavailable, KindRefusal},
	{OpDrop, KindAway}, {OpPrune, KindAway}, {OpRotate, KindAway},
	{OpExternal, KindNote}, {OpRecover, KindNote}, {OpWarning, KindNote}, {OpMigrate, KindOther},
	{OpConfig, KindOther}, {OpConfigError, KindRefusal}, {OpStore, KindOther}, {OpResync, KindOther},
}

// Ops lists the ops paracfs writes: changes first, then refusals, work on
// the log, and the daemon's own events.
func Ops() []string {
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = o.name
	}
	return names
}

// KindOf is the kind of op; KindOther for one paracfs does not write.
func KindOf(op string) Kind {
	for _, o := range ops {
		if o.name == op {
			return o.kind
		}
	}
	return KindOther
}
