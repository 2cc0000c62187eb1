"""Reading spec files from disk: a file, a directory of ``*.yaml``, and ``include:`` chains.

This is the only part of the spec package that touches the file system. It refuses what is not a
spec before YAML ever sees it (missing files, directories without specs, binary data, non-UTF-8
text, files over :data:`MAX_FILE_BYTES`), follows ``include:`` entries (globs allowed, relative to
the including file), detects include cycles and names the loop, and hands each file's document,
in include order, to :class:`~agentform.spec.fragments.Fragments`, which merges them. Called by
:mod:`agentform.spec.loader`.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from agentform.diagnostics import Diagnostic, Location, Severity, has_errors
from agentform.names import yaml_type
from agentform.spec.fragments import Fragments
from agentform.spec.sourcemap import SourceMap
from agentform.spec.split import Once, parse_large

__all__ = ["MAX_FILE_BYTES", "RawSpec", "escapes", "inside", "read_spec"]

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_MATCHES = 1000  # files one include pattern may bring in
SPEC_SUFFIXES = (".yaml", ".yml")
_GLOB_CHARS = set("*?[")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


@dataclass
class RawSpec:
    """The merged, not yet interpolated document, its locations and the files it came from."""

    document: dict[str, Any] | None
    smap: SourceMap
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    base_dir: str = "."


def display_name(path: FsPath) -> str:
    """A short, stable name for diagnostics: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _error(
    code: str,
    summary: str,
    location: Location | None,
    hint: str | None = None,
    related: tuple[Location, ...] = (),
) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, summary, location=location, hint=hint, related=related)


def _read_text(
    path: FsPath, name: str, origin: Location | None
) -> tuple[str | None, Diagnostic | None]:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            # reading /dev/zero or a named pipe would never end
            return None, _error(
                "AF004",
                f"{name} is not a regular file (a device, pipe or socket)",
                origin,
                hint="include only YAML spec files",
            )
        size = info.st_size
        if size > MAX_FILE_BYTES:
            return None, _error(
                "AF007",
                f"{name} is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a spec file",
                Location(name, 1, 1),
                hint="split it with 'include:'",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        return None, _error(
            "AF004",
            f"file not found: {name}",
            origin,
            hint="check the path; include paths are relative to the including file",
        )
    except IsADirectoryError:
        return None, _error("AF004", f"{name} is a directory, not a spec file", origin)
    except OSError as exc:
        return None, _error("AF004", f"cannot read {name}: {exc.strerror}", origin)
    if b"\x00" in data:
        offset = data.index(b"\x00")
        return None, _error(
            "AF006",
            f"{name} contains binary data (a NUL byte), not YAML text",
            _byte_location(name, data, offset),
            hint="spec files must be UTF-8 YAML text",
        )
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, _error(
            "AF006",
            f"{name} is not valid UTF-8 (byte 0x{data[exc.start]:02x})",
            _byte_location(name, data, exc.start),
            hint="save the file as UTF-8",
        )


def _byte_location(name: str, data: bytes, offset: int) -> Location:
    """Where byte ``offset`` is, counted as YAML does: characters, and every YAML line break."""
    lines = _LINE_BREAK.split(data[:offset].decode("utf-8-sig", errors="replace"))
    return Location(name, len(lines), len(lines[-1]) + 1)


class _Reader:
    def __init__(self, root: FsPath, meanwhile: Once) -> None:
        self.meanwhile = meanwhile
        self.root = root.resolve()
        self.fragments = Fragments()
        self.diagnostics: list[Diagnostic] = []
        self.files: list[str] = []
        self.seen: set[FsPath] = set()
        self.stack: list[FsPath] = []

    def read(self, path: FsPath, origin: Location | None) -> None:
        resolved = path.resolve()
        name = display_name(path)
        if resolved in self.stack:
            chain = [display_name(p) for p in self.stack[self.stack.index(resolved) :]]
            self.diagnostics.append(
                _error(
                    "AF005",
                    f"include cycle: {' -> '.join([*chain, name])}",
                    origin,
                    hint="remove one of the include entries that close the loop",
                )
            )
            return
        if resolved in self.seen:
            return
        self.seen.add(resolved)
        text, problem = _read_text(path, name, origin)
        if problem:
            self.diagnostics.append(problem)
            return
        assert text is not None
        self.files.append(name)
        local = SourceMap()
        value, problems = parse_large(text, name, local, meanwhile=self.meanwhile)
        self.diagnostics.extend(problems)
        self.fragments.smap.texts.update(local.texts)
        if value is None:
            if not problems:
                self.diagnostics.append(
                    _error(
                        "AF011",
                        f"{name} is empty",
                        Location(name, 1, 1),
                        hint="a spec file needs at least 'version' and "
                        "'project', or delete the file",
                    )
                )
            return
        if not isinstance(value, dict):
            self.diagnostics.append(
                _error(
                    "AF011",
                    f"{name} must be a mapping of sections, not a {yaml_type(value)}",
                    local.value(()),
                    hint="start the file with 'version: 1' and 'project: NAME'",
                )
            )
            return
        # the including file is merged before what it includes, so a name defined twice is
        # reported at the included (later) definition
        self.diagnostics.extend(self.fragments.add(value, local))
        self.stack.append(resolved)
        try:
            for entry, entry_loc in self._includes(value, local):
                self._include(path.parent, entry, entry_loc)
        finally:
            self.stack.pop()

    def _includes(self, value: dict[str, Any], local: SourceMap) -> list[tuple[str, Location]]:
        raw = value.get("include")
        if raw is None:
            return []
        entries = [raw] if isinstance(raw, str) else raw
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            self.diagnostics.append(
                _error("AF102", "include must be a list of file paths", local.value(("include",)))
            )
            return []
        out = []
        for i, e in enumerate(entries):
            loc = (
                local.value(("include", i)) if isinstance(raw, list) else local.value(("include",))
            )
            assert loc is not None
            out.append((e, loc))
        return out

    def _include(self, base: FsPath, entry: str, loc: Location) -> None:
        if "\x00" in entry:  # the OS cannot take it: pathlib raises ValueError
            self.diagnostics.append(
                _error("AF004", f"include path {entry!r} contains a NUL character", loc)
            )
            return
        if not entry.strip():
            self.diagnostics.append(_error("AF004", "include path is empty", loc))
            return
        # confined to the project: a spec (perhaps from a pull request) must not make the
        # validator read /etc/passwd or walk the whole file system
        if escapes(entry):
            self.diagnostics.append(
                _error(
                    "AF004",
                    f"include {entry!r} points outside the project directory",
                    loc,
                    hint="includes are relative paths that stay inside the spec's directory; "
                    "move the file into the project",
                )
            )
            return
        target = base / entry
        if _GLOB_CHARS & set(entry):
            found = itertools.islice(glob.iglob(str(target), recursive=True), MAX_MATCHES + 1)
            matches = sorted(m for m in found if self._inside(FsPath(m)))
            if len(matches) > MAX_MATCHES:
                self.diagnostics.append(
                    _error(
                        "AF007",
                        f"include pattern {entry!r} matches more than {MAX_MATCHES:,} files",
                        loc,
                        hint="narrow the pattern",
                    )
                )
                return
            if not matches:
                self.diagnostics.append(
                    Diagnostic(
                        Severity.WARNING,
                        "AF004",
                        f"include pattern {entry!r} matches no file",
                        location=loc,
                    )
                )
            for match in matches:
                self.read(FsPath(match), loc)
            return
        try:
            is_dir = target.is_dir()
            if not self._inside(target):
                self.diagnostics.append(
                    _error(
                        "AF004",
                        f"include {entry!r} leads outside the project directory "
                        "(through a symbolic link)",
                        loc,
                    )
                )
                return
        except OSError:  # e.g. a name too long for the file system: read() reports it
            is_dir = False
        if is_dir:
            for child in _spec_files(target):
                self.read(child, loc)
            return
        self.read(target, loc)

    def _inside(self, path: FsPath) -> bool:
        return inside(path, self.root)


def escapes(entry: str) -> bool:
    """Whether a path the spec names leaves the project by its text: absolute, or through
    ``..``. Includes and the other files a spec points at (a scripted model's ``script``)
    are refused alike (AF004)."""
    return FsPath(entry).is_absolute() or ".." in FsPath(entry).parts


def inside(path: FsPath, root: FsPath) -> bool:
    """Whether ``path`` is inside ``root`` once symbolic links are followed."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _spec_files(directory: FsPath) -> list[FsPath]:
    # hidden files are other tools' settings (.pre-commit-config.yaml, .gitlab-ci.yml), not spec
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in SPEC_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def read_spec(
    path: str | os.PathLike[str], *, meanwhile: Callable[[], object] | None = None
) -> RawSpec:
    """Read a spec file, or every ``*.yaml``/``*.yml`` file of a directory, with its includes.

    A directory's hidden files (``.pre-commit-config.yaml``) are not spec files and are not read,
    neither in ``path`` nor in a directory an ``include:`` names; a hidden file named outright
    (as ``path`` or in ``include:``) is.

    ``meanwhile``, if given, is called once: while other processes parse the parts of a large
    file (:mod:`agentform.spec.split`), or else after reading. A command passes the work it
    has to do anyway before building (importing the models, say) to overlap it with theirs.
    """
    root = FsPath(path)
    once = Once(meanwhile)
    raw = _read_spec(root, once)
    once()  # when no file was parsed in parts: now
    return raw


def _read_spec(root: FsPath, once: Once) -> RawSpec:
    reader = _Reader(root if root.is_dir() else root.parent, once)
    if root.is_dir():
        files = _spec_files(root)
        if not files:
            reader.diagnostics.append(
                _error(
                    "AF004",
                    f"no *.yaml spec files in directory {display_name(root)}",
                    None,
                    hint="pass a spec file, or a directory that holds one (agentform init creates "
                    "one)",
                )
            )
        for f in files:
            reader.read(f, None)
        base_dir = root
    else:
        reader.read(root, None)
        base_dir = root.parent
    # an empty mapping ('{}') is still a document to validate, unless nothing could be read
    merged = reader.fragments
    readable = merged.document or not has_errors(reader.diagnostics)
    document = merged.document if reader.files and readable else None
    return RawSpec(document, merged.smap, reader.diagnostics, reader.files, str(base_dir))
