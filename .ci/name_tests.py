#!/usr/bin/env python3
"""No code chooses behaviour by testing a component's name outside the component's own file (README
"Adding a method, a protocol, a data kind").

A component is a registry entry: a method (methods/*.cpp), a downstream protocol (harness/run/protocol_*.cpp)
or a data kind (datasets/kind_*.cpp). Its name is the string literal its file gives the entry
(`info.name = "uscl";`). A name test is that literal compared with == or !=, or a component name inside a
literal list that code walks ({"uscl", "random"}), anywhere in harness/, methods/, datasets/ or reports/
other than the file that defines the entry. Each one found fails the check, unless .ci/name_tests_allowed.txt
lists it (file, the line's text, and the reason, one per line).

Usage: python3 .ci/name_tests.py [--count]   (--count: print the count and the list, exit 0)
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ["harness", "methods", "datasets", "reports"]
DEFINITION = re.compile(r'\.name\s*=\s*"([A-Za-z0-9_.-]+)"\s*;')
COMMENT = re.compile(r"//.*$")


def sources():
    for folder in FOLDERS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in sorted(files):
                if f.endswith((".cpp", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, f), ROOT)


def strip_strings_in_comments(line):
    return COMMENT.sub("", line)


def main():
    count_only = "--count" in sys.argv
    texts = {p: open(os.path.join(ROOT, p), encoding="utf-8").read().splitlines() for p in sources()}
    owner = {}  # name -> defining file
    for path, lines in texts.items():
        if not (path.startswith("methods/") or path.startswith("datasets/kind_") or path.startswith("harness/run/protocol")):
            continue
        for line in lines:
            for name in DEFINITION.findall(strip_strings_in_comments(line)):
                owner.setdefault(name, path)
    if not owner:
        sys.exit("name_tests: no registry entries found (the check would pass vacuously)")
    names = "|".join(re.escape(n) for n in sorted(owner, key=len, reverse=True))
    lit = r'"(?:%s)"' % names
    patterns = [re.compile(r'(?:==|!=)\s*(?:std::string\()?\s*' + lit), re.compile(lit + r'\s*\)?\s*(?:==|!=)'),
                re.compile(r'\{\s*' + lit + r'\s*,\s*' + lit)]
    allowed = set()
    allow_file = os.path.join(ROOT, ".ci", "name_tests_allowed.txt")
    if os.path.exists(allow_file):
        for raw in open(allow_file, encoding="utf-8"):
            raw = raw.strip()
            if raw and not raw.startswith("#"):
                parts = raw.split("\t")
                if len(parts) < 3 or not parts[2].strip():
                    sys.exit("name_tests: %s: every allowed line needs file<TAB>code<TAB>reason: %r" % (allow_file, raw))
                allowed.add((parts[0], parts[1].strip()))
    found = []
    for path, lines in texts.items():
        for i, line in enumerate(lines, 1):
            code = strip_strings_in_comments(line)
            for p in patterns:
                for m in p.finditer(code):
                    name = re.search(lit, m.group(0)).group(0).strip('"')
                    if owner.get(name) == path:
                        continue
                    if (path, code.strip()) in allowed:
                        continue
                    found.append("%s:%d: %s   (name of %s)" % (path, i, code.strip(), owner[name]))
                    break
    print("name tests: %d registry entries (%s); %d comparisons of their names outside their own files"
          % (len(owner), ", ".join(sorted(owner)), len(found)))
    for f in found:
        print("  " + f)
    if found and not count_only:
        print("name tests: ask the registry entry (MethodInfo, ProtocolInfo, DatasetInfo) instead; or justify the "
              "line in .ci/name_tests_allowed.txt")
        sys.exit(1)


if __name__ == "__main__":
    main()
