"""paracle-style saves, timed inside one long-running Python process.

The approach paracle's own library takes without paracfs: take P.lock with
python3-filelock, dump the state with PyYAML to P.tmp, optionally fsync,
and os.replace it onto P. With fsync the directory is fsynced too, so that
its durability equals a paracfs commit's (or the floor's).

Driven by benchsuite over stdin/stdout, one JSON object a line:

  serve                       read commands, answer each with one line:
    {"op": "commit", "path": P, "n": N, "fsync": bool, "start": R}
        N saves of a ~4 KiB mapping whose revision runs from R;
        answers {"lat_ns": [...], "size": bytes of the last dump}
    {"op": "quit"}
  counter PATH N FSYNC        wait for a line on stdin, then N locked
                              read-modify-write increments of PATH's count;
                              prints {"lat_ns": [...], "start_ns", "end_ns"}
"""

import json
import os
import sys
import time

import yaml
from filelock import FileLock

_locks = {}


def lock_for(path):
    lock = _locks.get(path)
    if lock is None:
        lock = _locks[path] = FileLock(path + ".lock")
    return lock


def save(path, data, fsync):
    """paracle's save: locked dump to P.tmp, then os.replace onto P."""
    with lock_for(path):
        write_replace(path, data, fsync)


def write_replace(path, data, fsync):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if fsync:
        dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def state(rev):
    """A mapping that dumps to about 4 KiB, like a project state file."""
    d = {"revision": rev, "project": "bench", "phase": {"id": "phase_3", "progress": "%d%%" % (rev % 100)}}
    for i in range(57):
        d["item_%02d" % i] = "value %02d of the benchmark state, padded to a realistic length" % i
    return d


def serve():
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            return
        path, n, fsync, start = cmd["path"], cmd["n"], cmd["fsync"], cmd["start"]
        lat = []
        for i in range(n):
            data = state(start + i)
            t0 = time.perf_counter_ns()
            save(path, data, fsync)
            lat.append(time.perf_counter_ns() - t0)
        print(json.dumps({"lat_ns": lat, "size": os.path.getsize(path)}), flush=True)


def counter(path, n, fsync):
    sys.stdin.readline()  # the start signal
    lat = []
    start = time.time_ns()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        with lock_for(path):
            with open(path) as f:
                data = yaml.safe_load(f)
            data["count"] += 1
            data["revision"] += 1
            write_replace(path, data, fsync)
        lat.append(time.perf_counter_ns() - t0)
    end = time.time_ns()
    print(json.dumps({"lat_ns": lat, "start_ns": start, "end_ns": end, "retries": 0}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    elif sys.argv[1] == "counter":
        counter(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
    else:
        sys.exit("unknown mode " + sys.argv[1])
