#!/usr/bin/env python3
"""
Structure checks of src/, run by scripts/test.sh (phase "structure").

1. No cycle between the directories of src/, neither through #include
   lines nor through symbols: an object of directory A that uses a symbol
   defined by an object of directory B is an edge A -> B (nm, after the
   build).  The top-level files form two nodes: "core" (shmem.[ch],
   nagare.h: the shared-memory map and the settings every part reads) and
   "root" (nagare.c: _PG_init, which wires everything together and may
   depend on anything).  "core" may depend on nothing but PostgreSQL.
2. Every object has a unique file name (PGXS writes .deps/<name>.Po, so two
   objects of one name would share, and lose, their header dependencies).
3. Every directory of src/ has a README.md that names each of its files.

Usage: check.py [--dot | --markdown] [SRC_DIR]
  --dot        print the directory graph in Graphviz DOT and exit
  --markdown   print the edges as a Markdown list and exit
Prints one line "structure: N passed, M failed" and exits non-zero on failure.
"""
import fnmatch
import os
import re
import subprocess
import sys
from collections import defaultdict

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def node_of(path, src):
    rel = os.path.relpath(path, src)
    parts = rel.split(os.sep)
    if len(parts) == 1:
        return "root" if parts[0] in ("nagare.c", "nagare.o") else "core"
    return parts[0]


def source_files(src):
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(dirpath, f)


def include_edges(src, dirs):
    edges = defaultdict(list)		# (a, b) -> evidence
    for path in source_files(src):
        a = node_of(path, src)
        with open(path, errors="replace") as fh:
            text = fh.read()
        for inc in INCLUDE_RE.findall(text):
            first = inc.split("/")[0]
            if "/" in inc and first in dirs:
                b = first
            elif "/" not in inc and os.path.exists(os.path.join(src, inc)):
                b = node_of(os.path.join(src, inc), src)
            else:
                continue
            if a != b:
                edges[(a, b)].append("%s includes %s" % (os.path.relpath(path, src), inc))
    return edges


def nm(path, *flags):
    out = subprocess.run(["nm", *flags, path], capture_output=True, text=True)
    return out.stdout.splitlines()


def symbol_edges(src):
    objs = []
    for dirpath, _, files in os.walk(src):
        objs += [os.path.join(dirpath, f) for f in files if f.endswith(".o")]
    if not objs:
        return None
    defined = {}
    for o in objs:
        for line in nm(o, "--defined-only", "-g"):
            parts = line.split()
            if len(parts) == 3:
                defined[parts[2]] = o
    edges = defaultdict(list)
    for o in objs:
        a = node_of(o, src)
        for line in nm(o, "-u"):
            sym = line.split()[-1]
            d = defined.get(sym)
            if d is None:
                continue
            b = node_of(d, src)
            if a != b:
                edges[(a, b)].append("%s uses %s (%s)" % (os.path.relpath(o, src), sym,
                                                        os.path.relpath(d, src)))
    return edges


def cycles(nodes, edges):
    """Strongly connected components of more than one node (Tarjan)."""
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    mode = next((a for a in sys.argv[1:] if a.startswith("--")), None)
    src = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "..", "src")
    src = os.path.normpath(src)
    dirs = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    nodes = set(dirs) | {"core", "root"}

    edges = include_edges(src, set(dirs))
    sym = symbol_edges(src)
    if sym is not None:
        for k, v in sym.items():
            edges[k] += v

    if mode == "--dot":
        print("digraph nagare {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];")
        for a, b in sorted(edges):
            if a != "root":
                print('  "%s" -> "%s";' % (a, b))
        print("}")
        return 0
    if mode == "--markdown":
        for a in sorted(nodes):
            targets = sorted(b for (x, b) in edges if x == a)
            print("- `%s` -> %s" % (a, ", ".join("`%s`" % t for t in targets) or "(nothing)"))
        return 0

    passed = failed = 0

    found = cycles(nodes, edges)
    if "core" in {a for a, _ in edges}:
        found.append(["core ->"] + sorted(b for a, b in edges if a == "core"))
    if found:
        failed += 1
        for comp in found:
            print("structure: a dependency cycle between src/ directories: %s" % " <-> ".join(comp))
            members = set(comp)
            for (a, b), ev in sorted(edges.items()):
                if a in members and (b in members or comp[0] == "core ->"):
                    for e in ev[:3]:
                        print("    %s -> %s: %s" % (a, b, e))
    else:
        passed += 1
        print("structure: no dependency cycle between src/ directories%s"
              % ("" if sym is not None else " (includes only: no objects built)"))

    names = defaultdict(list)
    for path in source_files(src):
        if path.endswith(".c"):
            names[os.path.basename(path)].append(os.path.relpath(path, src))
    dup = {k: v for k, v in names.items() if len(v) > 1}
    if dup:
        failed += 1
        for k, v in sorted(dup.items()):
            print("structure: objects share the name %s (and so .deps/%s.Po): %s"
                  % (k, k[:-2], ", ".join(v)))
    else:
        passed += 1
        print("structure: every object's file name is unique")

    missing = []
    for d in dirs:
        readme = os.path.join(src, d, "README.md")
        if not os.path.exists(readme):
            missing.append("src/%s has no README.md" % d)
            continue
        with open(readme) as fh:
            text = fh.read()
        # a pattern in backquotes, such as `api_*.c`, names every file it matches
        # (`api_<api>.c` too: <...> stands for any name)
        patterns = [re.sub(r'<\w+>', '*', p)
                    for p in re.findall(r'`([\w*<>\[\]]+\.(?:c|h|\[ch\]))`', text)
                    if "*" in p or "<" in p]
        for f in sorted(os.listdir(os.path.join(src, d))):
            if not f.endswith((".c", ".h")):
                continue
            stem = f.rsplit(".", 1)[0]
            # "x.c", "x.h" or "x.[ch]" all name the file
            if re.search(r'(?<![\w/])%s\.(%s|\[ch\])(?!\w)' % (re.escape(stem), f[-1]), text):
                continue
            if any(fnmatch.fnmatch(f, p) for p in patterns):
                continue
            missing.append("src/%s/README.md does not name %s" % (d, f))
    if missing:
        failed += 1
        for m in missing:
            print("structure: " + m)
    else:
        passed += 1
        print("structure: every src/ directory has a README naming each of its files")

    print("structure: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
