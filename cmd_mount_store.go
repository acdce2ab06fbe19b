package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/store"
	"github.com/spf13/pflag"
)

// storeFlags say where DIR's committed state is shared with other mounts
// (docs/etcd.md); all empty: DIR alone, and nothing of etcd runs.
type storeFlags struct {
	url, name          string
	ca, cert, key      string
	user, passwordFile string
}

// addStoreFlags defines --store and the flags that go with it.
func addStoreFlags(flags *pflag.FlagSet, sf *storeFlags) {
	flags.StringVar(&sf.url, "store", "", "share DIR with other mounts through etcd: etcd://HOST:PORT[,HOST:PORT...]/PREFIX (docs/etcd.md)")
	flags.StringVar(&sf.name, "store-name", "", "this machine's name in the change log, with --store (default: the hostname)")
	flags.StringVar(&sf.ca, "etcd-ca", "", "CA certificate (PEM) that etcd's server certificates are checked against")
	flags.StringVar(&sf.cert, "etcd-cert", "", "client certificate (PEM) presented to etcd, with --etcd-key")
	flags.StringVar(&sf.key, "etcd-key", "", "private key (PEM) of --etcd-cert")
	flags.StringVar(&sf.user, "etcd-user", "", "etcd user, with --etcd-password-file")
	flags.StringVar(&sf.passwordFile, "etcd-password-file", "", "file holding the etcd user's password (one line)")
	for _, f := range []string{"etcd-ca", "etcd-cert", "etcd-key", "etcd-password-file"} {
		flags.SetAnnotation(f, annotFiles, []string{})
	}
}

// settings are the store flags as backing's store settings (without the
// machine's name, which is the command line's alone).
func (sf storeFlags) settings() backing.StoreSettings {
	return backing.StoreSettings{URL: sf.url, CA: sf.ca, Cert: sf.cert, Key: sf.key, User: sf.user, PasswordFile: sf.passwordFile}
}

// check checks what the flags say on their own: the URL, the name, and
// that the files they name are there. What needs the config file too (a
// certificate without its key, a flag without a store) is checked by
// storeOptions once DIR's paracfs.yaml is read: it may give the rest.
func (sf storeFlags) check() error {
	if sf.url != "" {
		if _, err := store.ParseURL(sf.url); err != nil {
			return usageError{"--store " + err.Error()}
		}
	}
	if strings.ContainsAny(sf.name, "\n\r") {
		return usageError{"--store-name: one line, please"}
	}
	for flag, p := range map[string]string{"--etcd-ca": sf.ca, "--etcd-cert": sf.cert, "--etcd-key": sf.key, "--etcd-password-file": sf.passwordFile} {
		if p == "" {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return usageError{fmt.Sprintf("%s %s: %v", flag, p, errors.Unwrap(err))}
		}
		if !st.Mode().IsRegular() {
			return usageError{fmt.Sprintf("%s %s: not a regular file", flag, p)}
		}
	}
	return nil
}

// checkStoreURL checks a store URL from the config file.
func checkStoreURL(u string) error {
	_, err := store.ParseURL(u)
	return err
}

// storeOptions turns the store settings in force (the command line's, with
// DIR's paracfs.yaml over those it did not give) into the store's options;
// ok is false without a store.
func storeOptions(s backing.StoreSettings, name string, timeout time.Duration) (o store.Options, ok bool, err error) {
	if s.URL == "" {
		for flag, v := range map[string]string{"--store-name": name, "--etcd-ca": s.CA, "--etcd-cert": s.Cert,
			"--etcd-key": s.Key, "--etcd-user": s.User, "--etcd-password-file": s.PasswordFile} {
			if v != "" {
				return o, false, usageError{flag + " needs --store (or store: in " + backing.ConfigFile + ")"}
			}
		}
		return o, false, nil
	}
	if o, err = store.ParseURL(s.URL); err != nil {
		return o, false, usageError{"--store " + err.Error()}
	}
	o.Name, o.CA, o.Cert, o.Key, o.User, o.PasswordFile = name, s.CA, s.Cert, s.Key, s.User, s.PasswordFile
	o.Timeout = timeout
	if err := o.Check(); err != nil {
		return o, false, usageError{err.Error()}
	}
	return o, true, nil
}

// checkStoreConfig checks, before the daemon starts, the store settings
// the flags and DIR's paracfs.yaml give together, so that a mistake fails
// the mount with one line and status 2. A config file that does not load
// is left to the daemon, which says why (or falls back on the last good
// copy).
func checkStoreConfig(dir string, cfg backing.Config, sf storeFlags) error {
	merged, err := backing.ReadConfig(dir, cfg)
	if err != nil {
		return nil
	}
	_, _, err = storeOptions(merged.Store, sf.name, cfg.LockTimeout)
	return err
}

// attachStore links the backing directory to its store, if any, before
// the mount: DIR is brought level with the store, and a watch applies
// other mounts' commits from then on (backing.Dir.OnStoreApplied drops
// the kernel's caches once mounted). cfg is the configuration in force:
// the flags, with DIR's paracfs.yaml over those not given.
func attachStore(b *backing.Dir, sf storeFlags, cfg backing.Config) error {
	o, ok, err := storeOptions(cfg.Store, sf.name, cfg.LockTimeout)
	if err != nil || !ok {
		return err
	}
	s, err := store.Open(o)
	if err != nil {
		return err
	}
	if err := b.AttachStore(s); err != nil {
		s.Close()
		return fmt.Errorf("%s: %w", cfg.Store.URL, err)
	}
	return nil
}

// joinStoreOption puts back together a store= mount option whose members
// were split at their commas with the other options: an item that follows
// store= and has a colon but no '=' (HOST:PORT/PREFIX) is one of them.
func joinStoreOption(opts []string) []string {
	var out []string
	inStore := false
	for _, o := range opts {
		if inStore && strings.Contains(o, ":") && !strings.Contains(o, "=") {
			out[len(out)-1] += "," + o
			continue
		}
		inStore = strings.HasPrefix(strings.TrimSpace(o), "store=")
		out = append(out, o)
	}
	return out
}
