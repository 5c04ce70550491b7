"""The docs name only code that exists: every ``dcgui/...py`` path and every dotted ``dcgui.x.y``
module name in README.md and docs/*.md resolves in this checkout (moves and deletions, such as the
sub-packages of issue 19, must update the docs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

PATH_RE = re.compile(r"(?<![\w/.-])dcgui/[\w/]+\.py\b")
# `dcgui/store/epochs.py:EpochData.record`: the file must define the first name after the colon
CITE_RE = re.compile(r"(?<![\w/.-])(dcgui/[\w/]+\.py):([A-Za-z_]\w*)((?:\.\w+)*)")
# not `packaging/dcgui.spec` or `dcgui.exe`: a dotted name starts at a word boundary, no path before it
DOTTED_RE = re.compile(r"(?<![\w/.-])dcgui(?:\.[A-Za-z_]\w*)+")
DEFINES = r"^\s*(?:def|class)\s+{0}\b|^\s*{0}\s*[:=]|\bimport\b[^\n]*\b{0}\b|^\s*{0}\s*,"


def _module_file(parts: list[str]) -> Path | None:
    """The file of module ``parts`` (a package's __init__.py), or None."""
    base = ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def dotted_problem(name: str) -> str | None:
    """Why ``name`` (dcgui.a.b[.attr]) does not resolve, or None when it does.

    The longest prefix that is a module must be followed by at most one more part, a name that
    module defines or imports (``dcgui.core.control.drain``)."""
    parts = name.split(".")
    n = len(parts)
    while n > 0 and _module_file(parts[:n]) is None:
        n -= 1
    if n == 0:
        return "no such module"
    rest = parts[n:]
    if not rest:
        return None
    if len(rest) > 1:
        return f"{'.'.join(parts[:n])} has no sub-module {rest[0]}"
    src = _module_file(parts[:n]).read_text(encoding="utf-8")  # type: ignore[union-attr]
    if re.search(DEFINES.format(re.escape(rest[0])), src, re.MULTILINE):
        return None
    return f"{'.'.join(parts[:n])} defines no {rest[0]}"


def references() -> list[tuple[str, int, str]]:
    out = []
    for doc in DOCS:
        for lineno, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for m in PATH_RE.finditer(line):
                out.append((doc.name, lineno, m.group(0)))
            for m in DOTTED_RE.finditer(line):
                out.append((doc.name, lineno, m.group(0).rstrip(".")))
    return out


def citations() -> list[tuple[str, int, str, str, str]]:
    """(doc, line, path, name, .rest) of every ``path.py:name[.attr]`` in the docs."""
    return [(doc.name, lineno, m.group(1), m.group(2), m.group(3))
            for doc in DOCS
            for lineno, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
            for m in CITE_RE.finditer(line)]


def citation_problem(path: str, name: str, rest: str) -> str | None:
    """Why ``path:name.rest`` does not resolve: the file must define ``name`` and, for a class
    member, define the member too (as a def, an assignment or a property)."""
    file = ROOT / path
    if not file.is_file():
        return "no such file"
    src = file.read_text(encoding="utf-8")
    if not re.search(DEFINES.format(re.escape(name)), src, re.MULTILINE):
        return f"{path} defines no {name}"
    member = rest.lstrip(".").split(".")[0]
    if member and not re.search(DEFINES.format(re.escape(member)), src, re.MULTILINE):
        return f"{path} defines no {name}.{member}"
    return None


def test_every_function_the_docs_cite_in_a_file_is_defined_there() -> None:
    refs = citations()
    assert refs, "the scan found no `file.py:function` citation: did the docs change form?"
    missing = [f"{doc}:{lineno}: {path}:{name}{rest} ({why})" for doc, lineno, path, name, rest in refs
               if (why := citation_problem(path, name, rest)) is not None]
    assert not missing, "the docs cite functions that are not in the file named:\n" + "\n".join(missing)


@pytest.mark.parametrize(("cite", "ok"), [
    ("dcgui/store/epochs.py:EpochData.record", True),
    ("dcgui/store/epochs.py:EpochData.no_such_method", False),
    ("dcgui/store/epochs.py:record_epoch", False),  # the facade's name, not this file's
    ("dcgui/core/train/features.py:iter_features", True),
])
def test_the_citation_check_itself(cite: str, ok: bool) -> None:
    m = CITE_RE.fullmatch(cite)
    assert m is not None
    assert (citation_problem(m.group(1), m.group(2), m.group(3)) is None) == ok


def test_the_docs_cite_code() -> None:
    refs = references()
    assert len(refs) > 20, "the scan found almost nothing: did the docs move?"


def test_every_path_and_module_named_in_the_docs_exists() -> None:
    missing = []
    for doc, lineno, ref in references():
        if "/" in ref:
            if not (ROOT / ref).is_file():
                missing.append(f"{doc}:{lineno}: {ref} (no such file)")
        elif (why := dotted_problem(ref)) is not None:
            missing.append(f"{doc}:{lineno}: {ref} ({why})")
    assert not missing, "the docs name code that does not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize(("name", "ok"), [
    ("dcgui.core.control", True),
    ("dcgui.core.control.drain", True),
    ("dcgui.core.control.no_such_function", False),
    ("dcgui.core.no_such_module", False),
    ("dcgui.core.analysis", True),
])
def test_the_resolver_itself(name: str, ok: bool) -> None:
    assert (dotted_problem(name) is None) == ok
