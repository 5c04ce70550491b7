"""Check a built bundle against the environment it was built from, and say what it weighs.

Usage: ``python packaging/check_bundle.py [dist/dcgui] [--sizes N]``

1. Every shared library that dcgui's run-time dependencies installed (``bundle_plan``) is in the
   bundle, or left out for a stated reason. Missing plain libraries (opened by path or dlopen,
   such as torchvision's operators or cuDNN's engines) fail the check, as do missing extension
   modules of the packages in ``STRICT_DISTRIBUTIONS``; other extension modules that the import
   analysis did not need are listed per package.
2. Every library in the bundle finds the libraries it links (``ldd`` with the bundle's search
   path): a link to a library of the bundle that is not there fails, and so does any unresolved
   link of ``MUST_LINK`` (Qt's X11 plugin); one to another system library the build machine
   lacks is only reported (the user's system provides it, or the plugin is unused).
3. No part of glibc is in the bundle (a library using glibc's private symbols fails the check),
   and the oldest glibc the bundle runs on is printed.
4. The size, in total and by package.

Exit status 0 when the bundle is complete, 1 otherwise.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bundle_plan

ROOT = Path(__file__).resolve().parent.parent
_SHARED = re.compile(r"\.so(\.\d+)*$")


def contents_dir(bundle: Path) -> Path:
    """Where PyInstaller put the libraries (``_internal`` since PyInstaller 6)."""
    inner = bundle / "_internal"
    return inner if inner.is_dir() else bundle


def missing_libraries(internal: Path, libs: list[bundle_plan.SharedLib]) -> tuple[
        list[bundle_plan.SharedLib], dict[str, list[bundle_plan.SharedLib]], dict[str, list[str]]]:
    """(missing that matter, left out on purpose by reason, extension modules not imported by dist)."""
    fatal: list[bundle_plan.SharedLib] = []
    left_out: dict[str, list[bundle_plan.SharedLib]] = defaultdict(list)
    not_imported: dict[str, list[str]] = defaultdict(list)
    for lib in libs:
        if (internal / lib.path).exists():
            continue
        reason = bundle_plan.left_out_reason(lib.path) or bundle_plan.linked_only_reason(lib.path)
        if reason is not None:
            left_out[reason].append(lib)
        elif lib.extension and lib.dist not in bundle_plan.STRICT_DISTRIBUTIONS:
            not_imported[lib.dist].append(lib.path)
        else:
            fatal.append(lib)
    return fatal, left_out, not_imported


def unresolved_links(internal: Path, ours: set[str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Libraries of the bundle whose links ``ldd`` cannot resolve: (to a library that belongs in the
    bundle, to a system library) -> {missing soname: {bundled file, ...}}. A library of ``ours``
    found outside the bundle (the build machine's own copy) counts as missing: the user's
    machine may not have it. A link ldd cannot follow to a file that *is* in the bundle is
    resolved by name at run time (torchvision's operators link libtorch.so without a path:
    torch is loaded first), so it is not reported."""
    fatal: dict[str, set[str]] = defaultdict(set)
    system: dict[str, set[str]] = defaultdict(set)
    if shutil.which("ldd") is None:
        print("ldd is not installed: the link check is skipped")
        return fatal, system
    env = {**os.environ, "LD_LIBRARY_PATH": str(internal)}  # what the bundle's launcher sets
    files = [p for p in sorted(internal.rglob("*")) if _SHARED.search(p.name) and p.is_file()]
    present = {p.name for p in files}
    for path in files:
        if path.is_symlink() or path.name in ("libc.so.6", "ld-linux-x86-64.so.2"):
            continue
        done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env, check=False)
        where = path.relative_to(internal).as_posix()
        for line in done.stdout.splitlines():
            if "=>" not in line:
                continue
            soname, target = (part.strip() for part in line.split("=>", 1))
            if target.startswith("not found"):
                if soname in present:
                    continue
                essential = any(fnmatch.fnmatchcase(where, p) for p in bundle_plan.MUST_LINK)
                (fatal if soname in ours or essential else system)[soname].add(where)
            elif soname in ours and not Path(target.split(" (")[0]).resolve().is_relative_to(internal.resolve()):
                fatal[f"{soname} (found at {target.split(' (')[0]}, outside the bundle)"].add(where)
    return fatal, system


def glibc_needed(internal: Path) -> tuple[tuple[int, int] | None, str, list[str]]:
    """The newest glibc symbol version any file of the bundle asks for and one file that does
    (the oldest glibc the bundle runs on), and the files that use glibc's private symbols: parts
    of glibc itself, which must come from the user's system (another glibc refuses them)."""
    best: tuple[int, int] | None = None
    where = ""
    private: list[str] = []
    if shutil.which("readelf") is None:
        return best, where, private
    exe = internal.parent / "dcgui"
    for path in [exe, *sorted(internal.rglob("*"))]:
        if path.is_symlink() or not path.is_file() or not (_SHARED.search(path.name) or path == exe):
            continue
        out = subprocess.run(["readelf", "-V", "--wide", str(path)], capture_output=True, text=True,
                             check=False).stdout
        name = path.relative_to(internal.parent).as_posix()
        if "Name: GLIBC_PRIVATE" in out:
            private.append(name)
        for major, minor in re.findall(r"Name: GLIBC_(\d+)\.(\d+)", out):
            version = (int(major), int(minor))
            if best is None or version > best:
                best, where = version, name
    return best, where, private


def size_of(path: Path) -> int:
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def size_report(bundle: Path, top: int) -> list[str]:
    internal = contents_dir(bundle)
    total = size_of(bundle)
    groups: dict[str, int] = defaultdict(int)
    for entry in internal.iterdir():
        name = entry.name
        if entry.is_file() and _SHARED.search(name):
            name = "(libraries at the top: system and Python)"
        groups[name] += size_of(entry)
    for sub in ("nvidia", "torch"):
        if (internal / sub).is_dir():
            groups.pop(sub, None)
            for entry in (internal / sub).iterdir():
                groups[f"{sub}/{entry.name}"] += size_of(entry)
    groups["dcgui executable (Python code archive)"] = size_of(bundle / "dcgui")
    lines = [f"bundle size: {human(total)} ({total:,} bytes) in {bundle}"]
    for name, size in sorted(groups.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {human(size):>9}  {name}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=ROOT / "dist" / "dcgui")
    parser.add_argument("--sizes", type=int, default=15, help="how many of the largest parts to list")
    args = parser.parse_args(argv)
    internal = contents_dir(args.bundle)
    if not (args.bundle / "dcgui").is_file():
        print(f"{args.bundle}: no dcgui executable there; build the bundle first (make package)")
        return 1
    dists = bundle_plan.runtime_distributions(ROOT / "pyproject.toml")
    libs = list(bundle_plan.shared_libraries(dists))
    fatal, left_out, not_imported = missing_libraries(internal, libs)
    bundled = sum(1 for lib in libs if (internal / lib.path).exists())
    print(f"shared libraries of {len(dists)} run-time distributions: {len(libs)}, "
          f"{bundled} in the bundle")
    for reason, group in sorted(left_out.items(), key=lambda kv: -sum(lib.source.stat().st_size for lib in kv[1])):
        size = sum(lib.source.stat().st_size for lib in group)
        print(f"  left out: {len(group)} ({human(size)}): {reason}")
    for dist, paths in sorted(not_imported.items()):
        print(f"  not imported by dcgui: {len(paths)} extension modules of {dist}")
    ours = {Path(lib.path).name for lib in libs if not lib.extension}
    link_fatal, link_system = unresolved_links(internal, ours)
    for soname, users in sorted(link_system.items()):
        print(f"  system library not on this machine: {soname} (linked by {', '.join(sorted(users)[:3])})")
    glibc, where, private = glibc_needed(internal)
    if glibc is not None:
        print(f"needs glibc {glibc[0]}.{glibc[1]} or newer (the newest symbol version asked for, by {where})")
    print("\n".join(size_report(args.bundle, args.sizes)))
    for name in private:
        print(f"PART OF GLIBC in the bundle: {name} uses glibc's private symbols; leave it out "
              "(LEFT_OUT in packaging/bundle_plan.py): the user's glibc provides it")
    if fatal or link_fatal or private:
        for lib in fatal:
            print(f"MISSING from the bundle: {lib.path} ({lib.dist}, "
                  f"{'extension module' if lib.extension else 'loaded by path'})")
        for soname, users in sorted(link_fatal.items()):
            print(f"MISSING link target: {soname}, needed by {', '.join(sorted(users))}")
        if fatal or any(soname.split(" ")[0] in ours for soname in link_fatal):
            print("the bundle is incomplete: add what is missing to packaging/bundle_plan.py "
                  "(FULL_PACKAGES), or leave it out there (LEFT_OUT) with the reason dcgui never loads it")
        if any(soname.split(" ")[0] not in ours for soname in link_fatal):
            print("Qt's X11 plugin needs system libraries this build machine lacks: install them and "
                  "build again, so that the bundle carries them (Debian/Ubuntu: apt-get install "
                  "libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 "
                  "libxkbcommon-x11-0)")
        return 1
    print("bundle check passed: every library dcgui loads is in the bundle")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
