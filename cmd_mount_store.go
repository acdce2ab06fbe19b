package main

import (
	"fmt"
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

// options checks the store flags; ok is false without --store.
func (sf storeFlags) options(timeout time.Duration) (o store.Options, ok bool, err error) {
	if sf.url == "" {
		for flag, v := range map[string]string{"--store-name": sf.name, "--etcd-ca": sf.ca, "--etcd-cert": sf.cert,
			"--etcd-key": sf.key, "--etcd-user": sf.user, "--etcd-password-file": sf.passwordFile} {
			if v != "" {
				return o, false, usageError{flag + " needs --store"}
			}
		}
		return o, false, nil
	}
	if o, err = store.ParseURL(sf.url); err != nil {
		return o, false, usageError{"--store " + err.Error()}
	}
	o.Name, o.CA, o.Cert, o.Key, o.User, o.PasswordFile = sf.name, sf.ca, sf.cert, sf.key, sf.user, sf.passwordFile
	o.Timeout = timeout
	if err := o.Check(); err != nil {
		return o, false, usageError{err.Error()}
	}
	return o, true, nil
}

// attachStore links the backing directory to its store, if any, before
// the mount: DIR is brought level with the store, and a watch applies
// other mounts' commits from then on (backing.Dir.OnStoreApplied drops
// the kernel's caches once mounted).
func attachStore(b *backing.Dir, sf storeFlags, cfg backing.Config) error {
	o, ok, err := sf.options(cfg.LockTimeout)
	if err != nil || !ok {
		return err
	}
	s, err := store.Open(o)
	if err != nil {
		return err
	}
	if err := b.AttachStore(s); err != nil {
		s.Close()
		return fmt.Errorf("%s: %w", sf.url, err)
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
