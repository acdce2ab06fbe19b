package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/paracfs/paracfs/backing"
)

// RequestLimit is etcd's default --max-request-bytes (1.5 MiB): a version
// whose key, metadata and bytes pass it is refused with EFBIG before it is
// sent.
const RequestLimit = 3 << 19

// requestOverhead is room left in a request for the transaction's own
// framing beside the key and the value.
const requestOverhead = 512

// Etcd is a store in an etcd cluster. The version of DIR's file rel is the
// key PREFIX/files/rel; its value is one line of JSON metadata
// (backing.StoredVersion), a newline, and the file's bytes. A delete is a
// version marked deleted, so that the name's count and order go on.
type Etcd struct {
	cli     *clientv3.Client
	opts    Options
	files   string // PREFIX/files/
	timeout time.Duration
}

var _ backing.Store = (*Etcd)(nil)

// Open connects to the cluster. Nothing is read yet: backing's
// AttachStore loads the prefix, and fails if etcd does not answer within
// the timeout.
func Open(o Options) (*Etcd, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if o.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--store-name is needed: the hostname is unknown: %v", err)
		}
		o.Name = h
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	cfg := clientv3.Config{Endpoints: o.Endpoints, DialTimeout: o.Timeout, Logger: zap.NewNop(),
		DialKeepAliveTime: 5 * time.Second, DialKeepAliveTimeout: o.Timeout}
	if o.User != "" {
		pw, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--etcd-password-file: %v", err)
		}
		cfg.Username, cfg.Password = o.User, strings.TrimRight(string(pw), "\r\n")
	}
	if o.CA != "" || o.Cert != "" {
		t := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CA != "" {
			pem, err := os.ReadFile(o.CA)
			if err != nil {
				return nil, fmt.Errorf("--etcd-ca: %v", err)
			}
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--etcd-ca %s: no PEM certificate in it", o.CA)
			}
		}
		if o.Cert != "" {
			c, err := tls.LoadX509KeyPair(o.Cert, o.Key)
			if err != nil {
				return nil, fmt.Errorf("--etcd-cert/--etcd-key: %v", err)
			}
			t.Certificates = []tls.Certificate{c}
		}
		cfg.TLS = t
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd at %s: %v", strings.Join(o.Endpoints, ","), err)
	}
	return &Etcd{cli: cli, opts: o, files: o.Prefix + "/files/", timeout: o.Timeout}, nil
}

// Name is this machine's name in the change log.
func (e *Etcd) Name() string { return e.opts.Name }

// String is the store's URL.
func (e *Etcd) String() string {
	return "etcd://" + strings.Join(e.opts.Endpoints, ",") + "/" + e.opts.Prefix
}

// Ping reads the prefix's revision through the cluster's leader.
func (e *Etcd) Ping(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := e.cli.Get(ctx, e.files, clientv3.WithCountOnly()); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("etcd at %s did not answer within %s", strings.Join(e.opts.Endpoints, ","), timeout)
		}
		return e.unreachable(err)
	}
	return nil
}

// Close disconnects.
func (e *Etcd) Close() error { return e.cli.Close() }

func (e *Etcd) unreachable(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("etcd at %s did not answer within %s", strings.Join(e.opts.Endpoints, ","), e.timeout)
	}
	return fmt.Errorf("etcd at %s: %v", strings.Join(e.opts.Endpoints, ","), err)
}

// Commit puts v if its key's mod_revision is still base (0: no key), in one
// transaction.
func (e *Etcd) Commit(base int64, v backing.StoredVersion) (int64, error) {
	key := e.files + v.Path
	val, err := encode(v)
	if err != nil {
		return 0, err
	}
	if n := len(key) + len(val) + requestOverhead; n > RequestLimit {
		return 0, &backing.StoreLimitError{Size: len(val), Limit: RequestLimit - requestOverhead - len(key),
			What: "etcd's request size limit (--max-request-bytes, 1.5 MiB by default)"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", base)).
		Then(clientv3.OpPut(key, string(val))).
		Commit()
	if err != nil {
		return 0, e.unreachable(err)
	}
	if !resp.Succeeded {
		return 0, backing.ErrStoreConflict
	}
	return resp.Header.Revision, nil
}

// Move puts v and gone (the old name, marked deleted) in one transaction,
// if each key's mod_revision is still its base.
func (e *Etcd) Move(base int64, v backing.StoredVersion, goneBase int64, gone backing.StoredVersion) (int64, error) {
	key, goneKey := e.files+v.Path, e.files+gone.Path
	val, err := encode(v)
	if err != nil {
		return 0, err
	}
	goneVal, err := encode(gone)
	if err != nil {
		return 0, err
	}
	if n := len(key) + len(val) + len(goneKey) + len(goneVal) + requestOverhead; n > RequestLimit {
		return 0, &backing.StoreLimitError{Size: len(val) + len(goneVal), Limit: RequestLimit - requestOverhead - len(key) - len(goneKey),
			What: "etcd's request size limit (--max-request-bytes, 1.5 MiB by default)"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", base), clientv3.Compare(clientv3.ModRevision(goneKey), "=", goneBase)).
		Then(clientv3.OpPut(key, string(val)), clientv3.OpPut(goneKey, string(goneVal))).
		Commit()
	if err != nil {
		return 0, e.unreachable(err)
	}
	if !resp.Succeeded {
		return 0, backing.ErrStoreConflict
	}
	return resp.Header.Revision, nil
}

// Get returns the version of rel in etcd.
func (e *Etcd) Get(rel string) (backing.StoredVersion, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	resp, err := e.cli.Get(ctx, e.files+rel)
	if err != nil {
		return backing.StoredVersion{}, false, e.unreachable(err)
	}
	if len(resp.Kvs) == 0 {
		return backing.StoredVersion{}, false, nil
	}
	v, err := decode(e.files, resp.Kvs[0].Key, resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
	return v, err == nil, err
}

// Load reads every version under the prefix, at one revision.
func (e *Etcd) Load() ([]backing.StoredVersion, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	resp, err := e.cli.Get(ctx, e.files, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
	if err != nil {
		return nil, 0, e.unreachable(err)
	}
	var out []backing.StoredVersion
	for _, kv := range resp.Kvs {
		v, err := decode(e.files, kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			slog.Warn("skipping a key that is not a paracfs version", "key", string(kv.Key), "err", err)
			continue
		}
		out = append(out, v)
	}
	return out, resp.Header.Revision, nil
}

// Watch calls apply with every version put after revision from, in
// order. The client resumes a broken watch where it stopped; when etcd
// compacted past that point, everything is loaded again and applied
// (apply skips what the mount has).
func (e *Etcd) Watch(ctx context.Context, from int64, apply func(backing.StoredVersion), resynced func(compacted, at int64)) {
	for ctx.Err() == nil {
		wch := e.cli.Watch(ctx, e.files, clientv3.WithPrefix(), clientv3.WithRev(from))
		for resp := range wch {
			if resp.CompactRevision != 0 {
				slog.Warn("etcd compacted past this mount's last revision: loading the prefix again", "from", from, "compacted", resp.CompactRevision)
				vs, at, err := e.Load()
				if err != nil {
					break
				}
				for _, v := range vs {
					apply(v)
				}
				resynced(resp.CompactRevision, at)
				from = at + 1
				break
			}
			if err := resp.Err(); err != nil {
				slog.Warn("etcd watch", "err", err)
				break
			}
			for _, ev := range resp.Events {
				if ev.Type != clientv3.EventTypePut {
					continue // paracfs never deletes a key: a delete is a version
				}
				v, err := decode(e.files, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
				from = ev.Kv.ModRevision + 1
				if err != nil {
					slog.Warn("skipping a key that is not a paracfs version", "key", string(ev.Kv.Key), "err", err)
					continue
				}
				apply(v)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func encode(v backing.StoredVersion) ([]byte, error) {
	h, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(append(h, '\n'), v.Data...), nil
}

func decode(files string, key, val []byte, modRev int64) (backing.StoredVersion, error) {
	var v backing.StoredVersion
	h, data, ok := bytes.Cut(val, []byte{'\n'})
	if !ok {
		return v, errors.New("no metadata line")
	}
	if err := json.Unmarshal(h, &v); err != nil {
		return v, err
	}
	rel := strings.TrimPrefix(string(key), files)
	if v.Path != rel || !backing.ValidStorePath(rel) {
		return v, fmt.Errorf("path %q does not match its key", v.Path)
	}
	v.Data, v.ModRev = data, modRev
	return v, nil
}
