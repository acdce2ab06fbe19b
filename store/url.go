// Package store shares a mount's committed state with other mounts, on
// other machines, through etcd: each commit is one etcd transaction that
// compares the file's key with the version the mount has, and a watch
// brings every other mount's commits in. It implements backing.Store;
// backing knows nothing of etcd.
package store

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Options say which etcd cluster and prefix a mount shares, and how it
// authenticates.
type Options struct {
	Endpoints []string // host:port of each member
	Prefix    string   // every key of this DIR starts with Prefix + "/"
	Name      string   // this machine's name in the change log (default: the hostname)

	CA, Cert, Key string // TLS: the cluster's CA, and this client's certificate and key
	User          string // etcd user, with the password in PasswordFile
	PasswordFile  string

	Timeout time.Duration // how long a commit waits for etcd (--lock-timeout)
}

// ParseURL reads etcd://HOST:PORT[,HOST:PORT...]/PREFIX. Members may also
// be separated with '+' (a mount option's value cannot hold a comma in
// every tool). PREFIX is one or more path segments; it names the shared
// .parac in the cluster.
func ParseURL(s string) (Options, error) {
	var o Options
	rest, ok := strings.CutPrefix(s, "etcd://")
	if !ok {
		return o, fmt.Errorf("%q: want etcd://HOST:PORT[,HOST:PORT...]/PREFIX (the only store is etcd)", s)
	}
	hosts, prefix, ok := strings.Cut(rest, "/")
	if !ok || strings.Trim(prefix, "/") == "" {
		return o, fmt.Errorf("%q: a PREFIX is needed after the members, e.g. etcd://127.0.0.1:2379/myproject", s)
	}
	prefix = strings.Trim(prefix, "/")
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return o, fmt.Errorf("%q: PREFIX %q has an empty, . or .. segment", s, prefix)
		}
	}
	for _, h := range strings.FieldsFunc(hosts, func(r rune) bool { return r == ',' || r == '+' }) {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return o, fmt.Errorf("%q: member %q: want HOST:PORT", s, h)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return o, fmt.Errorf("%q: member %q: port %q is not a port number", s, h, port)
		}
		o.Endpoints = append(o.Endpoints, h)
	}
	if len(o.Endpoints) == 0 {
		return o, fmt.Errorf("%q: no member given, e.g. etcd://127.0.0.1:2379/myproject", s)
	}
	o.Prefix = prefix
	return o, nil
}

// Check says what is wrong with the TLS and auth settings, before any
// connection is tried.
func (o Options) Check() error {
	if (o.Cert == "") != (o.Key == "") {
		return errors.New("--etcd-cert and --etcd-key go together")
	}
	if (o.User == "") != (o.PasswordFile == "") {
		return errors.New("--etcd-user and --etcd-password-file go together")
	}
	for flag, p := range map[string]string{"--etcd-ca": o.CA, "--etcd-cert": o.Cert, "--etcd-key": o.Key, "--etcd-password-file": o.PasswordFile} {
		if p == "" {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s %s: %v", flag, p, errors.Unwrap(err))
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s %s: not a regular file", flag, p)
		}
	}
	if strings.ContainsAny(o.Name, "\n\r") {
		return errors.New("--store-name: one line, please")
	}
	return nil
}
