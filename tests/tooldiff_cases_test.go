package tests

// The cases of TestToolDiff (docs/tools.md, "Everyday tools, side by
// side"), and the ones that diverge today.

// toolPrelude is put before every script: `rc CMD...` runs a command and
// prints its exit status; `ino F` prints F's inode number; `meta F...`
// prints what stat shows of F but its inode and times.
const toolPrelude = `set -u
rc() { "$@"; echo "rc=$? $1"; }
ino() { stat -c %i "$1"; }
meta() { stat -c '%n %F %a %u:%g links=%h size=%s' "$@"; }
# same F CMD...: runs CMD, says whether F kept its inode number, and its stat.
same() { local f=$1; shift; local a; a=$(ino "$f"); "$@"; echo "rc=$? $1"; if [ "$a" = "$(ino "$f")" ]; then echo "$f: same inode"; else echo "$f: new inode"; fi; meta "$f"; stat -c 'mtime=%y' "$f"; }
`

// knownDivergent lists the cases that differ today: the part of the work
// each waits for, and what it shows. A case leaves the table when it
// passes; a pattern leaves it when nothing shows it any more.
var knownDivergent = map[string]knownDiv{}

var toolDiffCases = []toolCase{
	{name: "cp-new-name", script: `
rc cp project.yaml project-copy.yaml
rc cp memory/context/current_state.yaml memory/context/state-copy.yaml
rc cp $X/src/extra.yaml roadmap/extra.yaml
cat memory/context/state-copy.yaml | grep ^revision`},
	{name: "cp-overwrite", script: `
rc cp $X/src/extra.yaml project.yaml
rc cp $X/src/notes.txt .gitignore
rc cp memory/context/current_state.yaml $X/state.yaml
sed -i 's/impact: medium/impact: low/' $X/state.yaml
rc cp $X/state.yaml memory/context/current_state.yaml
grep -c impact memory/context/current_state.yaml`},
	{name: "cp-p", script: `
rc cp -p $X/src/project.yaml roadmap/p2.yaml
rc cp -p $X/src/agents/manifest.yaml agents/manifest.yaml
chmod 640 $X/src/extra.yaml
rc cp -p $X/src/extra.yaml config/extra.yaml
rc cp -p $X/src/notes.txt notes.txt`},
	{name: "cp-a-subtree", script: `
rc cp -a $X/src/agents agents-ext
rc cp -a workflows workflows-copy
rc cp -a $X/src/policies/. policies/`},
	{name: "cp-r", script: `
rc cp -r policies policies2
rc cp -r $X/src/memory/knowledge memory/knowledge2`},
	{name: "install-mode", script: `
rc install -m 644 $X/src/project.yaml proj.yaml
rc install -m 600 $X/src/project.yaml secret.yaml
rc install -m 600 $X/src/config/logging.yaml config/logging.yaml
rc install -m 755 -d bin
rc install -m 755 $X/src/notes.txt bin/tool
meta proj.yaml secret.yaml config/logging.yaml bin/tool`},
	{name: "mv-other-fs", script: `
sed -i 's/0.4.2/0.4.3/' $S/src/project.yaml; touch -d @1600000000.5 $S/src/project.yaml
rc mv $S/src/project.yaml project.yaml
rc mv $S/src/extra.yaml memory/extra.yaml
rc mv $S/src/notes.txt notes.txt
rc mv $S/src/agents agents-moved
meta project.yaml memory/extra.yaml`},
	{name: "mv-same-fs", script: `
rc mv project.yaml project.yaml.bak
rc mv project.yaml.bak project.yaml
rc mv roadmap roadmap2
rc mv $X/src/extra.yaml $X/extra.yaml
rc cp $X/extra.yaml $X/extra2.yaml
rc mv $X/extra2.yaml config/extra.yaml`},
	{name: "tar-extract", script: `
rc tar -C $X/src -cf $X/a.tar agents config project.yaml
rc tar -xf $X/a.tar
mkdir restored
rc tar -xf $X/a.tar -C restored
rc tar -xpf $X/a.tar --same-owner -C restored`},
	{name: "tar-create", script: `
rc tar --exclude=./.paracfs -cf $X/out.tar .
tar -tvf $X/out.tar --full-time | grep -v state_changes.jsonl | sort -k6`},
	{name: "rsync-a-in", script: `
rc rsync -a $X/src/agents/ agents-sync/
rc rsync -a $X/src/extra.yaml $X/src/notes.txt memory/`},
	{name: "rsync-a-twice", script: `
rc rsync -a $X/src/policies/ policies/
echo second run:
rc rsync -ai $X/src/policies/ policies/`},
	{name: "rsync-inplace", script: `
sed -i 's/name: /name: x/' $X/src/roadmap/roadmap.yaml
rc rsync -a --inplace $X/src/roadmap/roadmap.yaml roadmap/roadmap.yaml
rc rsync -a --inplace $X/src/notes.txt notes.txt`},
	{name: "rsync-root", script: `
rc rsync -a $X/src/ ./
echo second run:
rc rsync -ai $X/src/ ./`},
	{name: "git-checkout", script: `
printf 'memory/logs/state_changes.jsonl\n*.lock\n' >> .gitignore
rc git init -q -b main .
rc git add -A
rc git commit -qm init
rc git checkout -qb other
sed -i 's/0.4.2/0.5.0/' project.yaml
echo '- on other' >> memory/knowledge/architecture.md
echo 'x: 1' > roadmap/new.yaml
rc git add -A
rc git commit -qm other
rc git checkout -q main
grep version project.yaml
ls roadmap
rc git checkout -q other
rc git checkout -q main
git status --short
git log --oneline --all`, ignoreBytes: []string{".git/index"}},
	// The commit on "other" holds current_state.yaml stamped revision 12
	// through the mount, so git's objects differ from there on; checking
	// out main again restores revision 11's bytes, which the mount commits
	// as the next revision (the one difference allowed after a restore).
	{name: "git-restore", script: `
printf 'memory/logs/state_changes.jsonl\n*.lock\n' >> .gitignore
git init -q -b main . && git add -A && git commit -qm init
rc git checkout -qb other
rc sed -i 's/impact: medium/impact: high/' memory/context/current_state.yaml
rc git commit -qam other
rc git checkout -q main
grep -c 'impact: high' memory/context/current_state.yaml
rc git checkout -q main -- memory/context/current_state.yaml
grep -c 'impact: high' memory/context/current_state.yaml
git log --format=%s --all`, ignoreUnder: []string{".git"}},
	{name: "git-stash", script: `
printf 'memory/logs/state_changes.jsonl\n*.lock\n' >> .gitignore
git init -q -b main . && git add -A && git commit -qm init
echo 'extra: 1' >> project.yaml
echo '- stashed' >> memory/knowledge/architecture.md
rc git stash -q
git status --short
rc git stash pop -q
git status --short
git stash list`, ignoreBytes: []string{".git/index"}},
	{name: "git-clone", script: `
git init -q -b main $X/repo
cp -r $X/src/agents $X/src/extra.yaml $X/repo/
git -C $X/repo add -A && git -C $X/repo commit -qm r
rc git clone -q --no-hardlinks $X/repo cloned
git -C cloned log --oneline
git -C cloned status --short`, ignoreBytes: []string{"cloned/.git/index", "$X/repo/.git/index"}},
	{name: "python-shutil", script: `
python3 - <<'EOF'
import os, shutil
X = os.environ["X"]
shutil.copy2("project.yaml", "p2.yaml")
shutil.copy2(X + "/src/extra.yaml", "roadmap/extra.yaml")
shutil.copy2(X + "/src/project.yaml", "project.yaml")
shutil.copytree("policies", "policies2")
shutil.copytree(X + "/src/agents", "agents2")
print("done")
EOF`},
	{name: "python-write-text", script: `
python3 - <<'EOF'
from pathlib import Path
Path("roadmap/new.yaml").write_text("a: 1\n")
p = Path("project.yaml")
p.write_text(p.read_text().replace("0.4.2", "0.5.0"))
Path("notes.txt").write_text("notes\n")
print(Path("roadmap/new.yaml").read_text(), end="")
EOF`},
	{name: "python-namedtemporaryfile", script: `
python3 - <<'EOF'
import tempfile
for suffix in ("", ".yaml"):
    with tempfile.NamedTemporaryFile("w", dir="memory", suffix=suffix) as f:
        f.write("k: v\n")
        f.flush()
        print(repr(suffix), repr(open(f.name).read()))
EOF
ls memory`},
	{name: "mkstemp-replace", script: `
python3 - <<'EOF'
import os, tempfile
p = "memory/context/current_state.yaml"
b = open(p, "rb").read().replace(b"impact: medium", b"impact: high")
fd, tmp = tempfile.mkstemp(dir="memory/context")
os.write(fd, b)
os.fsync(fd)
os.close(fd)
os.replace(tmp, p)
print(oct(os.stat(p).st_mode & 0o777))
EOF
ls memory/context`},
	{name: "sed-i", script: `
rc sed -i 's/impact: medium/impact: high/' memory/context/current_state.yaml
rc sed -i 's/orbit/ORBIT/' project.yaml
rc sed -i 's/^/> /' memory/knowledge/architecture.md
meta project.yaml`},
	{name: "perl-pi", script: `
rc perl -pi -e 's/lead/owner/' project.yaml
rc perl -pi -e 's/^#/##/' agents/specs/coder.md`},
	{name: "echo-append", script: `
echo 'extra: 1' >> project.yaml; echo "rc=$?"
echo '- appended' >> memory/knowledge/architecture.md; echo "rc=$?"
echo 'scratch' >> notes.txt; echo "rc=$?"
printf 'k: 1\n' >> new.yaml; echo "rc=$?"`},
	{name: "compound-redirect", script: `
{ echo 'a: 1'; /bin/echo 'b: 2'; echo 'c: 3'; } > f.yaml; echo "rc=$?"
{ echo 'name: x'; /bin/echo 'version: 1'; echo 'owner: y'; } > project.yaml; echo "rc=$?"
cat f.yaml project.yaml`},
	{name: "concurrent-appenders", script: `
: > memory/events.md
for w in a b; do ( for i in $(seq 1 40); do echo "$w $i" >> memory/events.md; done ) & done
wait
wc -l < memory/events.md`, sortedLines: []string{"memory/events.md"}},
	{name: "touch-d", script: `
rc touch -d '2021-03-04 05:06:07.123456789' project.yaml memory/context/current_state.yaml notes-new.txt
rc touch -m -d @1500000000 agents
stat -c '%n %y' project.yaml memory/context/current_state.yaml agents`},
	{name: "touch-dot", script: `
rc touch .
rc touch memory policies/security.yaml`},
	{name: "chmod-stat", script: `
same project.yaml chmod 600 project.yaml
same memory/context/current_state.yaml chmod g+w memory/context/current_state.yaml
same .gitignore chmod 700 .gitignore
same agents chmod 750 agents`},
	{name: "chown-stat", script: `
same project.yaml chown 65534:65534 project.yaml
same .gitignore chown 65534 .gitignore
same roadmap chown :65534 roadmap`},
	{name: "utimes-stat", script: `
python3 - <<'EOF'
import os
for p in ("project.yaml", ".gitignore", "memory"):
    a = os.stat(p).st_ino
    os.utime(p, ns=(1600000000123456789, 1600000000987654321))
    s = os.stat(p)
    print(p, a == s.st_ino, s.st_mtime_ns, oct(s.st_mode), s.st_size)
EOF`},
	{name: "xattr", script: `
same project.yaml setfattr -n user.x -v hello project.yaml
getfattr -n user.x project.yaml
same .gitignore setfattr -n user.y -v 2 .gitignore
echo 'more: 1' >> project.yaml
getfattr -n user.x project.yaml
rc setfattr -x user.y .gitignore`},
	{name: "acl", script: `
same project.yaml setfacl -m u:65534:rw project.yaml
getfacl -n project.yaml
echo 'more: 1' >> project.yaml
getfacl -n project.yaml
sed -i 's/orbit/ORBIT/' project.yaml
getfacl -n project.yaml
same .gitignore setfacl -m g:65534:r .gitignore`},
	{name: "default-acl", script: `
mkdir notes
rc setfacl -d -m u:65534:rw notes
echo 'a: 1' > notes/n.yaml
echo hi > notes/n.txt
mkdir notes/sub
rc cp project.yaml notes/p.yaml
getfacl -R -n notes`},
	{name: "ln-s", script: `
rc ln -s project.yaml link.yaml
rc ln -s ../project.yaml memory/p
rc ln -sf roadmap/roadmap.yaml link.yaml
head -1 link.yaml memory/p
readlink link.yaml memory/p`},
	{name: "ln-hard", script: `
echo a > s1.txt
rc ln s1.txt s2.txt
stat -c '%n %h' s1.txt s2.txt
echo b >> s2.txt
cat s1.txt
rc ln s1.txt memory/s3.txt
stat -c '%n %h' s1.txt`},
	{name: "mkfifo", script: `
rc mkfifo f.pipe
stat -c '%n %F %a' f.pipe
( echo through > f.pipe ) &
cat f.pipe
wait`},
	{name: "mknod", script: `
rc mknod memory/null c 1 3
stat -c '%n %F %t:%T' memory/null
echo x > memory/null; echo "rc=$?"`},
	{name: "truncate", script: `
rc truncate -s 0 project.yaml
rc truncate -s 10 memory/knowledge/architecture.md
rc truncate -s 100 notes.txt
rc truncate -s +5 agents/specs/coder.md
wc -c project.yaml memory/knowledge/architecture.md notes.txt agents/specs/coder.md`},
	{name: "dd-notrunc", script: `
printf 'NAME' | dd of=memory/knowledge/architecture.md bs=1 seek=2 conv=notrunc status=none; echo "rc=$?"
printf 'x' | dd of=notes.txt bs=1 seek=3 conv=notrunc status=none; echo "rc=$?"
head -c 20 memory/knowledge/architecture.md; echo`},
	{name: "ls-lR", script: `
rc ls -lR -n --time-style=full-iso .`},
	{name: "find-newer", script: `
touch -d '2021-01-01' $X/ref
touch project.yaml
echo new > notes.txt
find . -newer $X/ref -not -path './.paracfs*' | sort`},
	{name: "stat-c", script: `
stat -c '%n %F %a %u %g %h %s %Y %X' project.yaml memory/context/current_state.yaml .gitignore
stat -c '%n %F %a %u %g' . agents`},
	{name: "readdir-ino", script: `
python3 - <<'EOF'
import os
for top in (".", "memory", "memory/context"):
    for e in sorted(os.scandir(top), key=lambda e: e.name):
        if e.name == ".paracfs":
            continue
        st = os.lstat(e.path)
        print(e.path, "readdir and stat agree" if e.inode() == st.st_ino else "readdir and stat differ")
EOF`},
	{name: "readers", script: `
cat project.yaml > /dev/null
grep -r revision . --exclude-dir=.paracfs --exclude=state_changes.jsonl
wc -l memory/context/current_state.yaml
md5sum agents/manifest.yaml
python3 -c 'import yaml; print(yaml.safe_load(open("memory/context/current_state.yaml"))["revision"])'
head -c 10 roadmap/roadmap.yaml; echo`},
	{name: "rm-mkdir", script: `
rc rm project.yaml
rc rm -r policies
rc mkdir -p a/b/c
echo 'k: 1' > a/b/c/d.yaml
rc rmdir a/b/c; echo "rmdir non-empty as expected"
rc rm -rf a
ls`},
	{name: "tee-printf-heredoc", script: `
printf 'name: p\n' | tee project.yaml > /dev/null; echo "rc=$?"
cat > roadmap/new.yaml <<'EOF'
items:
  - one
EOF
echo "rc=$?"
printf '%s\n' '{"a": 1}' > config/new.json; echo "rc=$?"`},
	{name: "sort-o-gzip", script: `
rc sort -o agents/specs/coder.md agents/specs/coder.md
rc gzip -k memory/knowledge/architecture.md
rc gunzip -c memory/knowledge/architecture.md.gz > $X/a.md
cmp $X/a.md memory/knowledge/architecture.md && echo same`},
	{name: "yq-jq", script: `
rc yq -y -i '.version = "0.5.0"' project.yaml
jq '.extra = 1' integrations/mcp/mcp_config.json > integrations/mcp/mcp_config.json.tmp
rc mv integrations/mcp/mcp_config.json.tmp integrations/mcp/mcp_config.json
jq -c . integrations/mcp/mcp_config.json | head -c 60; echo`},
	{name: "awk-xargs-sed", script: `
awk '{print NR": "$0}' roadmap/roadmap.yaml > $X/numbered.txt; echo "rc=$?"
find policies -name '*.yaml' -print0 | sort -z | xargs -0 sed -i 's/^# */# /'; echo "rc=$?"
rc chmod -R go-w workflows`},
	{name: "diff-du", script: `
diff -r $X/src/agents agents; echo "rc=$?"
diff -r $X/src/memory/context memory/context; echo "rc=$?"
du -b --apparent-size agents/specs/coder.md memory/context/current_state.yaml
cmp $X/src/project.yaml project.yaml && echo same`},
	{name: "mktemp-fallocate", script: `
t=$(mktemp -p memory); echo "rc=$?"
echo scratch > "$t"; cat "$t"; rm "$t"; echo "rc=$?"
rc fallocate -l 8192 memory/blob.bin
stat -c '%n %s' memory/blob.bin`},
	{name: "python-json-append", script: `
python3 - <<'EOF'
import json
with open("config/new.json", "w") as f:
    json.dump({"a": [1, 2], "b": None}, f, indent=2)
with open("memory/events.jsonl", "a") as f:
    f.write('{"e": 1}\n')
with open("memory/events.jsonl", "a") as f:
    f.write('{"e": 2}\n')
print(open("memory/events.jsonl").read(), end="")
EOF`},
	{name: "cp-preserve-xattr", script: `
setfattr -n user.origin -v outside $X/src/extra.yaml
setfacl -m u:65534:r $X/src/extra.yaml
rc cp --preserve=all $X/src/extra.yaml roadmap/extra.yaml
getfattr -n user.origin roadmap/extra.yaml
getfacl -n roadmap/extra.yaml`},
	{name: "rsync-aAX", script: `
setfattr -n user.origin -v outside $X/src/policies/security.yaml
setfacl -m u:65534:r $X/src/policies/security.yaml
rc rsync -aAX $X/src/policies/ policies/
getfattr -n user.origin policies/security.yaml
rc rsync -aAXi $X/src/policies/ policies/`},
	{name: "tar-xattrs-acls", script: `
setfattr -n user.origin -v outside $X/src/roadmap/roadmap.yaml
rc tar -C $X/src --xattrs --acls -cf $X/r.tar roadmap
rc tar --xattrs --xattrs-include='user.*' --acls -xf $X/r.tar
getfattr -n user.origin roadmap/roadmap.yaml`, ignoreBytes: []string{"$X/r.tar"}}, // pax headers hold ctime and atime
	{name: "sqlite-zip", script: `
rc sqlite3 memory/cache.db 'create table t(x); insert into t values (1), (2);'
sqlite3 memory/cache.db 'select sum(x) from t;'
rc zip -q -X $X/a.zip project.yaml agents/manifest.yaml
mkdir unzipped
rc unzip -q -X $X/a.zip -d unzipped`},
	{name: "patch", script: `
cp project.yaml $X/p.yaml
sed -i 's/0.4.2/0.4.9/' $X/p.yaml
diff -u --label project.yaml --label project.yaml project.yaml $X/p.yaml > $X/p.diff
rc patch -s -p0 < $X/p.diff
grep version project.yaml`},
}
