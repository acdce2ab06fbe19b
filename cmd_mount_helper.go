package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// mount(8)'s exit statuses that its helpers return.
const (
	mountUsage  = 1  // incorrect invocation or options
	mountFailed = 32 // the mount failed
)

// mountOptions maps the options of `mount -o` (and fstab's fourth field)
// to mount's flags; a value-less option maps to a boolean flag.
var mountOptions = map[string]string{
	"lock_timeout":     "lock-timeout",
	"max_size":         "max-size",
	"log":              "log",
	"log_max_size":     "log-max-size",
	"rejected_max":     "rejected-max",
	"store_max_size":   "store-max-size",
	"staging_max_size": "staging-max-size",
	"fd_reserve":       "fd-reserve",
	"log_level":        "log-level",
	"history_versions": "history-versions",
	"history_days":     "history-days",
	"allow_other":      "allow-other",
	"debug":            "debug",

	// --store and its flags (cmd_mount_store.go)
	"store":              "store",
	"store_name":         "store-name",
	"etcd_ca":            "etcd-ca",
	"etcd_cert":          "etcd-cert",
	"etcd_key":           "etcd-key",
	"etcd_user":          "etcd-user",
	"etcd_password_file": "etcd-password-file",
}

// ignoredOptions are options that mount(8), fstab, systemd or mount.fuse3
// add, that say nothing to paracfs. A paracfs mount is always nosuid,nodev.
var ignoredOptions = map[string]bool{
	"rw": true, "defaults": true, "auto": true, "noauto": true, "user": true, "nouser": true,
	"users": true, "owner": true, "group": true, "nofail": true, "_netdev": true, "_rnetdev": true,
	"dev": true, "nodev": true, "suid": true, "nosuid": true, "exec": true, "noexec": true,
	"atime": true, "noatime": true, "relatime": true, "norelatime": true, "strictatime": true,
	"nodiratime": true, "diratime": true, "lazytime": true, "nolazytime": true, "async": true,
	"sync": true, "dirsync": true, "loud": true, "quiet": true, "silent": true,
	"default_permissions": true,
}

// mountHelper is mount(8)'s helper for the type fuse.paracfs, run as
// /sbin/mount.fuse.paracfs (a link to paracfs) or, through mount.fuse3, as
// `paracfs`:
//
//	prog DIR MOUNTPOINT [-sfnv] [-N NS] [-o OPTIONS] [-t TYPE]
//
// It mounts DIR on MOUNTPOINT like `paracfs mount` (the daemon goes to the
// background) and returns mount(8)'s exit status.
func mountHelper(prog string, args []string) int {
	h, err := helperArgs(args)
	if err == nil && h.fake {
		mf := mountFlags{}
		if err = parse(mountFlagSet(&mf), h.flags, 0); err == nil {
			_, err = mf.config()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\nUsage: %s DIR MOUNTPOINT [-o lock_timeout=D,max_size=S,log=P,log_max_size=S,store_max_size=S,staging_max_size=S,fd_reserve=N,rejected_max=S,log_level=L,history_versions=N,history_days=D,allow_other,store=URL,store_name=N,etcd_ca=F,etcd_cert=F,etcd_key=F,etcd_user=U,etcd_password_file=F]\n", prog, err, prog)
		return mountUsage
	}
	if h.fake {
		return 0
	}
	announce = h.verbose
	if err := runMount(append(h.flags, append([]string{"--"}, h.operands...)...)); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		var ue usageError
		if errors.As(err, &ue) {
			return mountUsage
		}
		return mountFailed
	}
	return 0
}

// helperCall is a helper's command line, parsed.
type helperCall struct {
	flags    []string // mount's flags
	operands []string // DIR, MOUNTPOINT
	fake     bool     // -f: check the options, mount nothing
	verbose  bool     // -v
}

// helperArgs turns a helper's arguments into mount's flags and operands.
func helperArgs(args []string) (h helperCall, err error) {
	var opts []string
	sloppy := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "-t" || a == "-N":
			if i+1 >= len(args) {
				return h, fmt.Errorf("%s needs a value", a)
			}
			i++
			switch a {
			case "-o":
				opts = append(opts, strings.Split(args[i], ",")...)
			case "-N":
				return h, errors.New("-N (another mount namespace) is not supported")
			}
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			opts = append(opts, strings.Split(a[2:], ",")...)
		case strings.HasPrefix(a, "-t") && len(a) > 2:
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, c := range a[1:] {
				switch c {
				case 's':
					sloppy = true
				case 'f':
					h.fake = true
				case 'v':
					h.verbose = true
				case 'n', 'r', 'w':
				default:
					return h, fmt.Errorf("unknown flag -%c", c)
				}
			}
		default:
			h.operands = append(h.operands, a)
		}
	}
	if len(h.operands) != 2 {
		return h, fmt.Errorf("want DIR and MOUNTPOINT, got %q", h.operands)
	}
	if strings.HasPrefix(h.operands[1], "/dev/fd/") {
		return h, errors.New("drop_privileges (a mountpoint of /dev/fd/N) is not supported: paracfs opens DIR before mounting over it")
	}
	h.operands[0] = strings.TrimPrefix(h.operands[0], "paracfs#")
	opts = joinStoreOption(opts)
	for _, o := range opts {
		name, value, hasValue := strings.Cut(strings.TrimSpace(o), "=")
		switch {
		case name == "":
		case mountOptions[name] != "":
			flag := "--" + mountOptions[name]
			if hasValue {
				flag += "=" + value
			}
			h.flags = append(h.flags, flag)
		case ignoredOptions[name] || strings.HasPrefix(name, "x-") || name == "comment" ||
			name == "user" || name == "fsname" || name == "subtype":
		case name == "ro":
			return h, errors.New("ro: paracfs has no read-only mode (mount the directory read-only with a bind mount instead)")
		case sloppy:
			fmt.Fprintf(os.Stderr, "paracfs: ignoring the unknown option %s (-s)\n", o)
		default:
			return h, fmt.Errorf("unknown option %q (paracfs knows lock_timeout, max_size, log, log_max_size, store_max_size, staging_max_size, fd_reserve, rejected_max, log_level, history_versions, history_days, allow_other, debug, store, store_name, etcd_ca, etcd_cert, etcd_key, etcd_user, etcd_password_file)", o)
		}
	}
	return h, nil
}
