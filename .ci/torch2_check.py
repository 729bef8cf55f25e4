"""Syntax-checks every translation unit in a compile_commands.json against another LibTorch's headers.

Usage: torch2_check.py COMPILE_COMMANDS TORCH_ROOT OUT_DIR [FILE_REGEX] [--cuda CUDA_INCLUDE]
TORCH_ROOT is an unpacked libtorch-dev (TORCH_ROOT/usr/include/{torch,ATen,c10}).
--cuda: TORCH_ROOT is a CUDA LibTorch's headers (libtorch-cuda-dev) and CUDA_INCLUDE the CUDA toolkit's; the
units compile with USBENCH_WITH_CUDA=1, so their CUDA-only code is compiled too. A planted unit that calls
a CUDA function that does not exist inside `#ifdef USBENCH_WITH_CUDA` must fail first: that proves the
CUDA branch is compiled, not preprocessed away, before any unit is judged. The torch PCH is
rebuilt once against those headers and used by the translation units that used it in the real build.
Fails when a unit does not compile, when it uses an API deprecated in that LibTorch, or when any header
it reads from torch, ATen, c10 or caffe2 comes from outside TORCH_ROOT (e.g. the system's 1.13).
"""
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys


def main():
    argv = sys.argv[1:]
    cuda_inc = None
    if "--cuda" in argv:
        i = argv.index("--cuda")
        cuda_inc = os.path.abspath(argv[i + 1])
        del argv[i:i + 2]
    commands_path, root, out = argv[0], os.path.abspath(argv[1]), os.path.abspath(argv[2])
    os.makedirs(out, exist_ok=True)
    inc = os.path.join(root, "usr/include")
    version_h = os.path.join(inc, "torch/csrc/api/include/torch/version.h")
    version = ".".join(re.search(r"TORCH_VERSION_%s (\d+)" % k, open(version_h).read()).group(1)
                       for k in ("MAJOR", "MINOR", "PATCH"))
    front = ["-isystem", inc, "-isystem", os.path.join(inc, "torch/csrc/api/include")]
    extra = ["-fsyntax-only", "-Werror=deprecated-declarations"]
    if cuda_inc:
        front += ["-isystem", cuda_inc]
        extra += ["-DUSBENCH_WITH_CUDA=1"]
    pch_header = os.path.join(out, "torch_pch.h")

    def clean(entry):
        """The unit's arguments without output, PCH and -c flags; and whether it used the torch PCH."""
        args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
        kept, used_pch, skip = [], False, False
        for i, a in enumerate(args):
            if skip:
                skip = False
                continue
            if a in ("-o", "-MF", "-MT", "-MQ"):
                skip = True
                continue
            if a == "-include" and args[i + 1].endswith("cmake_pch.hxx"):
                used_pch, skip = True, True
                continue
            if a in ("-c", "-Winvalid-pch", "-MD", "-MMD") or a.endswith("cmake_pch.hxx"):
                continue
            kept.append(a)
        return kept, used_pch

    def run(args, dep, cwd):
        r = subprocess.run(args + ["-MD", "-MF", dep], cwd=cwd, capture_output=True, text=True)
        foreign = []
        if os.path.exists(dep):
            for path in re.split(r"\s+", open(dep).read().replace("\\\n", " ")):
                p = os.path.normpath(path)
                if re.search(r"/(torch|ATen|c10|caffe2)/", p) and not p.startswith(root):
                    foreign.append(p)
        return r, foreign

    entries = json.load(open(commands_path))
    entries = [e for e in entries if not e["file"].endswith("harness/torch_pch.cpp")] , \
        [e for e in entries if e["file"].endswith("harness/torch_pch.cpp")]
    units, pch_entries = entries
    if len(argv) > 3:  # only the units whose path matches (a quick check of one file)
        units = [e for e in units if re.search(argv[3], e["file"])]
    if not pch_entries:
        sys.exit("torch2-check: no torch_pch.cpp in %s" % commands_path)

    # The PCH, against the new headers, with the flags of the target that owns it.
    args, _ = clean(pch_entries[0])
    src_dir = os.path.dirname(os.path.dirname(os.path.abspath(pch_entries[0]["file"])))
    with open(pch_header, "w") as f:
        f.write('#include "%s"\n' % os.path.join(src_dir, "harness/torch_pch.h"))
    pch_args = [args[0]] + front + [a for a in args[1:] if a != pch_entries[0]["file"]
                                    and not a.endswith("torch_pch.cpp")] + ["-Werror=deprecated-declarations", "-x", "c++-header",
                                                                            pch_header, "-o", pch_header + ".gch"]
    r, foreign = run(pch_args, os.path.join(out, "pch.d"), pch_entries[0]["directory"])
    if r.returncode != 0 or foreign:
        sys.exit("torch2-check: the torch PCH does not build against LibTorch %s:\n%s%s" % (version, r.stderr[-6000:], "\n".join(foreign[:20])))

    def check(i_entry):
        i, entry = i_entry
        args, used_pch = clean(entry)
        args = [args[0]] + front + (["-include", pch_header, "-Winvalid-pch"] if used_pch else []) + args[1:] + extra
        r, foreign = run(args, os.path.join(out, "unit%03d.d" % i), entry["directory"])
        problem = r.stderr if r.returncode != 0 else ""
        if "invalid-pch" in r.stderr or "not used because" in r.stderr:
            problem += "\n(the 2.x PCH was not used)"
        if foreign:
            problem += "\nheaders read from outside %s:\n  %s" % (root, "\n  ".join(foreign[:10]))
        return entry["file"], problem

    if cuda_inc:
        # The planted error: it must be reported, or the CUDA branch is not what is being compiled.
        planted = os.path.join(out, "planted_cuda_error.cpp")
        with open(planted, "w") as f:
            f.write('#include "harness/torch_pch.h"\n#ifdef USBENCH_WITH_CUDA\n#include <c10/cuda/CUDAGuard.h>\n'
                    'void planted() { cudaMemGetInfoThatDoesNotExist(nullptr, nullptr); }\n#endif\n')
        entry = dict(units[0]) if units else None
        if entry is None:
            sys.exit("torch2-check --cuda: no unit matched")
        args, _ = clean(entry)
        args = [args[0]] + front + ["-include", pch_header, "-Winvalid-pch"] + \
            [planted if a == entry["file"] else a for a in args[1:]] + extra
        r, _ = run(args, os.path.join(out, "planted.d"), entry["directory"])
        if r.returncode == 0 or "cudaMemGetInfoThatDoesNotExist" not in r.stderr:
            sys.exit("torch2-check --cuda: the planted CUDA error was not reported: the CUDA code is not compiled\n" + r.stderr[-3000:])
        print("  planted CUDA error reported as it must be: %s" %
              next(l for l in r.stderr.splitlines() if "cudaMemGetInfoThatDoesNotExist" in l).strip(), flush=True)

    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for path, problem in pool.map(check, enumerate(units)):
            status = "ok" if not problem else "FAILED"
            print("  %-6s %s" % (status, os.path.relpath(path)), flush=True)
            if problem:
                failures.append((path, problem))
    for path, problem in failures:
        print("\n== %s\n%s" % (path, problem[-4000:]))
    print("torch2-check: %d of %d translation units compile against LibTorch %s headers (%s)%s%s" %
          (len(units) - len(failures), len(units), version, root,
           " with CUDA (%s, USBENCH_WITH_CUDA=1)" % cuda_inc if cuda_inc else "", "" if not failures else "; FAILED"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
