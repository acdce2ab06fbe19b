package backing

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStoreKeys(t *testing.T) {
	badURL := func(u string) error {
		if !strings.HasPrefix(u, "etcd://") {
			return errors.New("want etcd://HOST:PORT/PREFIX")
		}
		return nil
	}
	base := Config{Globs: DefaultGlobs, LockTimeout: 10 * time.Second, LogPath: DefaultLogPath, CheckStoreURL: badURL}
	data := "store: etcd://10.0.0.1:2379/team/p\netcd_ca: /etc/paracfs/ca.pem\netcd_user: paracfs\netcd_password_file: /etc/paracfs/pw\n"
	cfg, warns, err := parseConfig(ConfigFile, []byte(data), base)
	want := StoreSettings{URL: "etcd://10.0.0.1:2379/team/p", CA: "/etc/paracfs/ca.pem", User: "paracfs", PasswordFile: "/etc/paracfs/pw"}
	if err != nil || cfg.Store != want || len(warns) != 0 {
		t.Fatalf("parsed %+v, %q, %v; want %+v", cfg.Store, warns, err, want)
	}

	// A flag pins its own key: the file gives the rest (here, the
	// machine's own certificate comes from its command line).
	pinned := base
	pinned.Store = StoreSettings{URL: "etcd://127.0.0.1:2379/mine", Cert: "/c.pem", Key: "/k.pem"}
	pinned.Pinned = []string{SetStore, SetEtcdCert, SetEtcdKey}
	cfg, warns, err = parseConfig(ConfigFile, []byte("store: etcd://10.0.0.1:2379/team/p\netcd_ca: /ca.pem\n"), pinned)
	want = StoreSettings{URL: "etcd://127.0.0.1:2379/mine", CA: "/ca.pem", Cert: "/c.pem", Key: "/k.pem"}
	if err != nil || cfg.Store != want || len(warns) != 1 || !strings.Contains(warns[0], "line 1: key store: set on the command line") {
		t.Fatalf("with --store given: %+v, %q, %v", cfg.Store, warns, err)
	}

	for _, tc := range []struct{ name, data, want string }{
		{"bad url", "store: http://x:1/p\n", `paracfs.yaml line 1: key store: want etcd://HOST:PORT/PREFIX`},
		{"not a string", "store: [a]\n", `paracfs.yaml line 1: key store: want a store such as etcd://`},
		{"relative path", "store: etcd://a:1/p\netcd_ca: ca.pem\n", `paracfs.yaml line 2: key etcd_ca: "ca.pem": want an absolute path`},
		{"cert alone", "store: etcd://a:1/p\netcd_cert: /c.pem\n", `paracfs.yaml line 2: etcd_cert and etcd_key go together`},
		{"user alone", "store: etcd://a:1/p\netcd_user: me\n", `paracfs.yaml line 2: etcd_user and etcd_password_file go together`},
		{"no store", "etcd_ca: /ca.pem\n", `paracfs.yaml line 1: the TLS and auth settings need a store`},
		{"name", "store_name: a\n", `paracfs.yaml line 1: key store_name: a machine's name is its own`},
		{"misspelt", "stor: etcd://a:1/p\n", `unknown key "stor" (did you mean store?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseConfig(ConfigFile, []byte(tc.data), base)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseConfig(%q) = %v, want an error containing %q", tc.data, err, tc.want)
			}
		})
	}
}

// TestStoreKeyReload: a mount stays on the store it mounted with. A
// change of store: in its config file is committed, logged as applying at
// the next mount, and not applied; a bad one is refused, its bytes kept.
func TestStoreKeyReload(t *testing.T) {
	root := newRoot(t)
	mustWrite(t, root+"/"+ConfigFile, "store: etcd://10.0.0.1:2379/a\n", 0o644)
	d := openDir(t, root, Config{CheckStoreURL: func(u string) error {
		if strings.Contains(u, "bad") {
			return errors.New("bad URL")
		}
		return nil
	}})
	if got := d.Config().Store.URL; got != "etcd://10.0.0.1:2379/a" {
		t.Fatalf("store at open: %q", got)
	}
	commit(t, d, ConfigFile, "store: etcd://10.0.0.2:2379/b\nlock_timeout: 3s\n")
	var note string
	for _, e := range entriesFor(t, root, "config", ConfigFile) {
		if strings.Contains(e.Description, "store ") {
			note = e.Description
		}
	}
	if !strings.Contains(note, "store changed in paracfs.yaml (store etcd://10.0.0.1:2379/a → etcd://10.0.0.2:2379/b): it applies at the next mount") {
		t.Fatalf("log line: %q", note)
	}
	if cfg := d.Config(); cfg.Store.URL != "etcd://10.0.0.1:2379/a" || cfg.LockTimeout != 3*time.Second {
		t.Fatalf("in force: store %q, lock_timeout %s; want the old store and the new timeout", cfg.Store.URL, cfg.LockTimeout)
	}
	_, err := d.Commit(Write{Path: ConfigFile, Data: []byte("store: etcd://bad/b\n"), Base: -1, Caller: testCaller})
	r := wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	if r.Reason != "paracfs.yaml line 1: key store: bad URL" {
		t.Fatalf("reason %q", r.Reason)
	}
	fileBytesIs(t, root+"/"+ConfigFile, "store: etcd://10.0.0.2:2379/b\nlock_timeout: 3s\n")
}
