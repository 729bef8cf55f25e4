"""The include graph between usbench's folders: prints each folder's dependencies and fails on a cycle
or on a forbidden edge (datasets/, methods/ and reports/ must not include harness/run/ or harness/cli/).

Usage: python3 .ci/include_graph.py   (from the repository root; CI runs it)
A folder is datasets, methods, reports, tests, harness/<subfolder> or harness (the files at its top).
"""
import os
import re
import sys

ROOTS = ["datasets", "methods", "reports", "harness"]
FORBIDDEN = [(a, b) for a in ("datasets", "methods", "reports") for b in ("harness/run", "harness/cli")]


def folder(path):
    parts = path.split("/")
    if parts[0] == "harness" and len(parts) > 2:
        return "harness/" + parts[1]
    return parts[0]


def main():
    edges = {}
    for root in ROOTS:
        for dirpath, _, files in os.walk(root):
            for f in files:
                if not f.endswith((".h", ".cpp")):
                    continue
                path = os.path.join(dirpath, f)
                src = folder(path)
                for inc in re.findall(r'^#include "([^"]+)"', open(path).read(), re.M):
                    if inc.split("/")[0] in ROOTS:
                        dst = folder(inc)
                        if dst != src:
                            edges.setdefault(src, {}).setdefault(dst, set()).add(path)
    for src in sorted(edges):
        print("%-15s -> %s" % (src, ", ".join(sorted(edges[src]))))
    bad = []
    for a, b in FORBIDDEN:
        for path in sorted(edges.get(a, {}).get(b, ())):
            bad.append("%s includes %s/" % (path, b))
    # Cycles: depth-first search over the folder graph.
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, {})):
            if state.get(m) == 1:
                bad.append("cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    if bad:
        sys.exit("include graph:\n  " + "\n  ".join(bad))
    print("include graph: no cycle between folders; datasets/, methods/ and reports/ include neither harness/run/ nor harness/cli/")


main()
