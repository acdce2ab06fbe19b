package main

import (
	"fmt"
	"net"
	"os"
)

// sdNotify tells the service manager about the daemon's state (sd_notify(3)
// without libsystemd): one datagram, such as "READY=1", to the unix socket
// named by $NOTIFY_SOCKET, which systemd sets for a Type=notify service. It
// does nothing when the variable is unset. A name starting with '@' is an
// abstract socket (Go maps the '@' to the leading NUL byte).
func sdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		return fmt.Errorf("NOTIFY_SOCKET=%q: only unix socket paths and @abstract names are supported", addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("NOTIFY_SOCKET=%s: %v", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("NOTIFY_SOCKET=%s: %v", addr, err)
	}
	return nil
}
