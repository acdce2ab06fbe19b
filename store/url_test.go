package store

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	o, err := ParseURL("etcd://10.0.0.1:2379,10.0.0.2:2379+[::1]:2379/team/project/")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.Endpoints, " ") != "10.0.0.1:2379 10.0.0.2:2379 [::1]:2379" || o.Prefix != "team/project" {
		t.Fatalf("got %q %q", o.Endpoints, o.Prefix)
	}
	for s, want := range map[string]string{
		"http://h:1/p":       "etcd://HOST:PORT",
		"etcd://h:1":         "PREFIX is needed",
		"etcd://h:1/":        "PREFIX is needed",
		"etcd://h/p":         "want HOST:PORT",
		"etcd://h:0/p":       "not a port number",
		"etcd://h:1/a/../b":  "segment",
		"etcd:///p":          "no member",
		"etcd://h:1,,h:2/a/": "",
	} {
		_, err := ParseURL(s)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", s, err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := (Options{Cert: "/etc/hostname"}).Check(); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("cert without key: %v", err)
	}
	if err := (Options{User: "u", PasswordFile: "/nonexistent"}).Check(); err == nil || !strings.Contains(err.Error(), "/nonexistent") {
		t.Errorf("missing password file: %v", err)
	}
	if err := (Options{CA: "/etc"}).Check(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as CA: %v", err)
	}
}
