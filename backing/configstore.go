package backing

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The config file's store keys: the same settings as mount's --store,
// --etcd-ca, --etcd-cert, --etcd-key, --etcd-user and
// --etcd-password-file (docs/etcd.md). Each is pinned on its own by its
// flag. The store a mount is on is chosen when it mounts: a change of them
// in a running mount is logged, and applies at the next mount.
const (
	SetStore             = "store"
	SetEtcdCA            = "etcd_ca"
	SetEtcdCert          = "etcd_cert"
	SetEtcdKey           = "etcd_key"
	SetEtcdUser          = "etcd_user"
	SetEtcdPasswordFile  = "etcd_password_file"
	setStoreName         = "store_name" // refused: a machine's own name has no place in a shared file
	storeKeyExampleCA    = "/etc/paracfs/ca.pem"
	storeKeyExampleStore = "etcd://10.0.0.1:2379,10.0.0.2:2379/team/project"
)

var storeKeys = []string{SetStore, SetEtcdCA, SetEtcdCert, SetEtcdKey, SetEtcdUser, SetEtcdPasswordFile}

// StoreSettings say which store DIR's committed state is shared through,
// and how to reach it: the command line's, with the config file's over the
// settings it did not give. All empty: DIR alone.
type StoreSettings struct {
	URL                string // etcd://HOST:PORT[,HOST:PORT...]/PREFIX
	CA, Cert, Key      string // PEM files: the cluster's CA, this client's certificate and key
	User, PasswordFile string // etcd authentication; the password is the file's first line
}

// Empty reports whether no store setting is given.
func (s StoreSettings) Empty() bool { return s == StoreSettings{} }

// storeKey reads one of the store keys.
func (p *configParser) storeKey(k, v *yaml.Node) error {
	key := k.Value
	if key == setStoreName {
		return p.errorf(k, key, "a machine's name is its own, and %s is shared by every machine of the store: give --store-name (store_name= in fstab), or leave it to the hostname", ConfigFile)
	}
	var s string
	var err error
	if key == SetStore {
		if s, err = p.str(v, key, "a store such as "+storeKeyExampleStore); err != nil {
			return err
		}
		if p.cfg.CheckStoreURL != nil {
			if err := p.cfg.CheckStoreURL(s); err != nil {
				return p.errorf(v, key, "%v", err)
			}
		}
	} else if key == SetEtcdUser {
		if s, err = p.str(v, key, "an etcd user name"); err != nil {
			return err
		}
		if strings.ContainsAny(s, "\n\r") {
			return p.errorf(v, key, "want one line")
		}
	} else {
		if s, err = p.str(v, key, "an absolute path such as "+storeKeyExampleCA); err != nil {
			return err
		}
		if !path.IsAbs(s) {
			return p.errorf(v, key, "%q: want an absolute path such as %s (the file is read by each machine's daemon, outside DIR)", s, storeKeyExampleCA)
		}
	}
	p.storeLine = max(p.storeLine, k.Line)
	p.set(k, key, func() {
		switch key {
		case SetStore:
			p.cfg.Store.URL = s
		case SetEtcdCA:
			p.cfg.Store.CA = s
		case SetEtcdCert:
			p.cfg.Store.Cert = s
		case SetEtcdKey:
			p.cfg.Store.Key = s
		case SetEtcdUser:
			p.cfg.Store.User = s
		case SetEtcdPasswordFile:
			p.cfg.Store.PasswordFile = s
		}
	})
	return nil
}

// checkStore checks the store settings the file and the command line give
// together, once the file is read: the file may give what a flag does not
// (a machine's own certificate on its command line, the store in the
// shared file).
func (p *configParser) checkStore() error {
	if p.storeLine == 0 {
		return nil // nothing from the file: the command line's were checked with the flags
	}
	s := p.cfg.Store
	line := &yaml.Node{Line: p.storeLine}
	if err := s.Check(); err != nil {
		return p.errorf(line, "", "%v", err)
	}
	return nil
}

// Check says what is missing from the settings: a certificate without its
// key, a user without a password file, any of them without a store. Names
// are the config file's keys.
func (s StoreSettings) Check() error {
	switch {
	case (s.Cert == "") != (s.Key == ""):
		return fmt.Errorf("%s and %s go together (--etcd-cert and --etcd-key)", SetEtcdCert, SetEtcdKey)
	case (s.User == "") != (s.PasswordFile == ""):
		return fmt.Errorf("%s and %s go together (--etcd-user and --etcd-password-file)", SetEtcdUser, SetEtcdPasswordFile)
	case s.URL == "" && !s.Empty():
		return fmt.Errorf("the TLS and auth settings need a store: give %s (or --store)", SetStore)
	}
	return nil
}

// keepStore keeps the store settings in force in a configuration reloaded
// while DIR is open: a mount stays on the store it was mounted with. A
// change is logged, and applies at the next mount.
func (d *Dir) keepStore(old Config, cfg *Config) {
	if old.Store == cfg.Store {
		return
	}
	was, now := old.Store.URL, cfg.Store.URL
	if was == "" {
		was = "none"
	}
	if now == "" {
		now = "none"
	}
	var what []string
	for _, k := range storeKeys {
		if storeSetting(old.Store, k) != storeSetting(cfg.Store, k) {
			what = append(what, k)
		}
	}
	d.configNote("config", fmt.Sprintf("%s changed in %s (store %s → %s): it applies at the next mount; until then this mount stays on store %s (remount to switch)",
		strings.Join(what, ", "), ConfigFile, was, now, was))
	cfg.Store = old.Store
}

func storeSetting(s StoreSettings, key string) string {
	i := slices.Index(storeKeys, key)
	return []string{s.URL, s.CA, s.Cert, s.Key, s.User, s.PasswordFile}[i]
}
