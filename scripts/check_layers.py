#!/usr/bin/env python3
"""Checks the library's module layering: no upward imports and no cycles between files.

  scripts/check_layers.py [--quiet]    (--quiet: only the problems; exit 1 if any, else 0)

src/lib.rs lists the top-level modules "lowest first (a module uses only those above it in
this list)", so that each layer can be read, tested and changed without the ones above it.
The compiler does not enforce that; this script does. In every file under src/ but main.rs
(which uses the library from outside), outside comments, string literals and test-only code
(#[cfg(test)] items, files declared only under #[cfg(test)]), it collects `use`/`pub use`
trees and inline paths that start with `crate::`, `super::`, `self::` or, in a file with child
modules, a child's name. Each path refers to the deepest FILE module it names
(`crate::txn::LogEntry` -> src/txn/mod.rs). It reports:
  - cycles: each group of files that reach each other, with the shortest cycle through each of
    its edges and one file:line per edge. A file's use of its own module's mod.rs (its
    parent: the namespace it belongs to, whose types it may extend, e.g. an `impl Replica` in
    raft/reconfig.rs) is not an edge here; every other use is, so a parent that uses its
    children and siblings that use each other are checked;
  - upward imports: a reference from a top-level module to one above it in LAYERS.
"""

import argparse
import bisect
import os
import re
import sys
from collections import deque

# Lowest first; must match the list in src/lib.rs's doc comment.
LAYERS = ["durable", "telemetry", "config", "tls", "sasl", "tree", "session", "txn", "watch", "raft",
          "server", "leader", "node"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = re.compile(r"::|[{},*]|[A-Za-z_]\w*")
LEXEME = re.compile(r"""//[^\n]*|/\*|(?<!\w)b?r(#*)".*?"\1|b?"(?:\\.|[^"\\])*"|"""
                    r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'", re.S)
NESTED = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


def strip(src):
    """Blanks comments and string/char literals, keeping newlines (so line numbers stay)."""
    out, i = [], 0
    while m := LEXEME.search(src, i):
        j, depth = m.end(), m.group() == "/*"
        while depth:  # block comments nest
            k = re.compile(r"/\*|\*/").search(src, j)
            depth, j = (depth + (1 if k.group() == "/*" else -1), k.end()) if k else (0, len(src))
        out += [src[i:m.start()], re.sub(r"[^\n]", " ", src[m.start():j])]
        i = j
    return "".join(out) + src[i:]


def item_end(text, i, ends=";}"):
    """Index of the first of `ends` at bracket depth 0 from text[i] (a bracket: its match)."""
    depth = 0
    for j in range(i, len(text)):
        depth += NESTED.get(text[j], 0)
        if depth == 0 and text[j] in ends:
            return j
    return len(text) - 1


def drop_test_items(text):
    """Blanks #[cfg(test)] items; returns the text and the child files declared only for tests."""
    test_mods = set()
    for m in reversed(list(re.finditer(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]", text))):
        i = m.end()
        while (a := re.compile(r"\s*#\s*\[").match(text, i)):  # more attributes on the item
            i = item_end(text, a.end() - 1, "]") + 1
        decl = re.compile(r"\s*(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+(\w+)\s*;").match(text, i)
        if decl:
            test_mods.add(decl.group(1))
        end = item_end(text, i)
        text = text[:m.start()] + re.sub(r"[^\n]", " ", text[m.start():end + 1]) + text[end + 1:]
    return text, test_mods


def use_leaves(tokens, k=0, prefix=()):
    """Flattens a use tree: yields (segments, position of the last one, alias or None)."""
    segs = list(prefix)
    while k < len(tokens):
        tok, pos = tokens[k]
        if tok == "{":
            k += 1
            while k < len(tokens) and tokens[k][0] != "}":
                k = yield from use_leaves(tokens, k, segs)
                k += k < len(tokens) and tokens[k][0] == ","
            return k + 1
        if tok == "*" or (tok == "self" and len(segs) == len(prefix) > 0):
            yield segs, pos, None
            return k + 1
        if tok == "::":
            k = k + 1 if segs else len(tokens)  # a leading `::` names an extern crate
            continue
        segs.append(tok)
        alias, k = None, k + 1
        if k < len(tokens) and tokens[k][0] == "as":
            alias, k = tokens[k + 1][0], k + 2
        if k >= len(tokens) or tokens[k][0] != "::":
            yield segs, pos, alias
            return k
    return k


def scan():
    """Returns (file of each module path, references, each module's imported names, notes)."""
    files, texts, test_mods, declared, notes = {}, {}, {}, {()}, []
    for d, _, names in os.walk(os.path.join(ROOT, "src")):
        for rel in (os.path.relpath(os.path.join(d, n), ROOT) for n in names if n.endswith(".rs")):
            parts = tuple(rel[4:-3].split(os.sep))
            if parts != ("main",):
                files[parts[:-1] if parts[-1] in ("mod", "lib") else parts] = rel
    for mod, rel in files.items():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            texts[mod], test_mods[mod] = drop_test_items(strip(f.read()))
        declared.update(mod + (n,) for n in re.findall(r"(?<![\w:])mod\s+(\w+)\s*;", texts[mod]))
    for mod in sorted(files):  # only what the library build compiles
        if mod not in declared or mod[:-1] not in files:
            if mod[-1] not in test_mods.get(mod[:-1], ()):
                notes.append(f"{files[mod]} is not declared by its parent module: skipped")
            del files[mod]
    refs, imports = [], {}  # ref: (from, to, file, line, path as written, rest of the path)
    for mod, rel in sorted(files.items()):
        text = texts[mod]
        starts = [0] + [m.end() for m in re.finditer("\n", text)]
        inline = [(m.end() - 1, item_end(text, m.end() - 1), m.group(1))
                  for m in re.finditer(r"(?<![\w:])mod\s+(\w+)\s*\{", text)]
        scope = lambda pos: [n for a, b, n in inline if a < pos < b]
        children = [p[-1] for p in files if p[:-1] == mod and len(p) == len(mod) + 1]

        def add(segs, pos, written):
            cur = list(mod) + scope(pos)
            if segs[0] == "crate":
                cur, segs = [], segs[1:]
            elif segs[0] not in ("self", "super") and (segs[0] not in children or scope(pos)):
                return None
            while segs and segs[0] in ("self", "super"):
                if segs[0] == "super" and not cur:
                    return None
                cur, segs = cur[:-1] if segs[0] == "super" else cur, segs[1:]
            full = cur + segs
            n = max(n for n in range(len(full) + 1) if tuple(full[:n]) in files)
            refs.append((mod, tuple(full[:n]), rel, bisect.bisect_right(starts, pos),
                         written, full[n:]))
            return refs[-1]

        uses = []
        for m in re.finditer(r"(?<![\w:])(pub(?:\s*\([^)]*\))?\s+)?use\s", text):
            uses.append((m.start(), text.find(";", m.end())))
            toks = [(t.group(), t.start()) for t in TOKEN.finditer(text, m.end(), uses[-1][1])]
            for segs, pos, alias in use_leaves(toks):
                ref = add(segs, pos, "::".join(segs))
                if ref and ref[5]:  # children see the parent's private imports too
                    imported = "re-exported" if m.group(1) else "imported"
                    imports.setdefault(mod, {})[alias or segs[-1]] = (imported, ref[1])
        heads = "|".join(["crate", "super", "self"] + children)
        for m in re.finditer(r"(?<![\w:.$])(?:%s)(?:::\w+)+" % heads, text):
            if not any(a <= m.start() < b for a, b in uses) and \
                    not re.search(r"pub\s*\(\s*in\s+$", text[max(0, m.start() - 12):m.start()]):
                add(m.group().split("::"), m.start(), m.group())
    return files, refs, imports, notes


def cycle_groups(nodes, edges):
    """Tarjan's strongly connected components with more than one node."""
    graph = {v: sorted(w for (u, w) in edges if u == v) for v in nodes}
    index, low, stack, groups = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(group) > 1:
                groups.append(sorted(group))
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(groups)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quiet", action="store_true", help="print only the problems")
    quiet = ap.parse_args().quiet
    files, refs, imports, notes = scan()
    name = lambda mod: "::".join(mod) or "crate"
    # The first reference of each edge is its evidence; a child's use of its parent is none.
    edges = {(r[0], r[1]): r for r in reversed(refs) if r[0] != r[1] and r[1] != r[0][:-1]}
    if not quiet:
        print(f"{len(files)} files, {len(refs)} crate-internal references, {len(edges)} edges")
    problems = 0
    for group in cycle_groups(files, edges):
        problems += 1
        inside = sorted(e for e in edges if e[0] in group and e[1] in group)
        print(f"\nCycle among {len(group)} files: {', '.join(name(m) for m in group)}")
        cycles = set()
        for a, b in inside:  # the shortest cycle through each edge
            prev, queue = {b: None}, deque([b])
            while a not in prev:
                v = queue.popleft()
                for w in [w for (u, w) in inside if u == v and w not in prev]:
                    prev[w] = v
                    queue.append(w)
            path = [a]
            while path[-1] != b:
                path.append(prev[path[-1]])
            i = path.index(min(path))  # one rotation per cycle
            cycles.add(tuple(path[i::-1] + path[:i:-1] + [path[i]]))
        for path in sorted(cycles, key=lambda c: (len(c), c)):
            print("  " + " -> ".join(name(m) for m in path))
            for u, w in zip(path, path[1:]):
                e = edges[(u, w)]
                print(f"      {name(u)} -> {name(w)}: {e[2]}:{e[3]} {e[4]}")

    with open(os.path.join(ROOT, "src", "lib.rs"), encoding="utf-8") as f:
        lib = f.read()
    doc = [n for item in re.findall(r"^//!\s*-\s*(.*?):", lib, re.M)
           for n in re.findall(r"`(\w+)`", item)]
    if [n for n in LAYERS if n in doc] != doc:
        notes.append(f"LAYERS {LAYERS} is not in the order of src/lib.rs's list {doc}")
    if [n for n in LAYERS if n not in doc]:
        notes.append(f"src/lib.rs's list lacks {', '.join(n for n in LAYERS if n not in doc)}")
    for top in sorted({m[0] for m in files if m} - set(LAYERS)):
        problems += 1
        print(f"\nTop-level module `{top}` is not in LAYERS: add it there and to src/lib.rs")
    rank = {n: i for i, n in enumerate(LAYERS)}
    upward = [r for r in refs if r[0] and r[1] and rank.get(r[1][0], -1) > rank.get(r[0][0], 99)]
    if upward:
        problems += 1
        print(f"\n{len(upward)} upward imports (a layer using one above it in LAYERS):")
    for r in upward:
        print(f"  {r[0][0]} -> {r[1][0]}: {r[2]}:{r[3]} {r[4]}")
    if not quiet and (notes or not problems):
        print("".join(f"\nnote: {n}" for n in notes) + ("" if problems else
                                                          "\nOK: no cycles, no upward imports"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
