"""Files only their owner may read: made so, and tightened when an older version left them open.

The process runs under umask 022 here (what a shared host's users usually have), so anything
private comes from :mod:`agentform.private`, not from the umask.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from agentform import private
from agentform.database import private_file
from agentform.state.tables import connect


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(autouse=True)
def shared_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_directory_is_made_private_with_its_missing_parents(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    made = private.directory(tmp_path / "a" / "b" / ".agentform")
    assert [mode(p) for p in (made, made.parent, made.parent.parent)] == [0o700] * 3
    assert mode(tmp_path) == 0o755  # a parent that was there keeps its mode


def test_an_open_directory_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "engine"
    folder.mkdir(mode=0o777)
    folder.chmod(0o775)
    private.directory(folder)
    assert mode(folder) == 0o700


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, 0o600), (0o644, 0o600), (0o666, 0o600), (0o640, 0o600), (0o400, 0o400)],
    ids=["made", "readable", "writable-by-all", "group", "owner-only-read-stays"],
)
def test_a_file_is_made_or_tightened_never_loosened(
    tmp_path: Path, before: int | None, after: int
) -> None:
    path = tmp_path / "state.db"
    if before is not None:
        path.write_text("kept")
        path.chmod(before)
    private.file(path)
    assert mode(path) == after
    assert path.read_text() == ("kept" if before is not None else "")


def test_a_tree_is_tightened_and_links_are_left_alone(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's own file")
    outside.chmod(0o644)
    root = tmp_path / ".agentform"
    (root / "engine" / "logs").mkdir(parents=True)
    (root / "engine" / "logs" / "greeter.log").write_text("line\n")
    (root / "state.db").write_text("")
    (root / "engine" / "link").symlink_to(outside)
    for path in (root, root / "engine", root / "engine" / "logs"):
        path.chmod(0o755)

    private.tighten(root)

    assert {str(p.relative_to(root)): mode(p) for p in root.rglob("*") if not p.is_symlink()} == {
        "engine": 0o700,
        "engine/logs": 0o700,
        "engine/logs/greeter.log": 0o600,
        "state.db": 0o600,
    }
    assert mode(root) == 0o700
    assert mode(outside) == 0o644


def test_a_sqlite_file_and_what_sqlite_left_beside_it(tmp_path: Path) -> None:
    database = tmp_path / "runtime.db"
    private_file(str(database))
    assert mode(database) == 0o600
    for side in ("runtime.db-wal", "runtime.db-shm"):
        (tmp_path / side).write_text("")
        (tmp_path / side).chmod(0o644)
    private_file(str(database))
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
        "runtime.db": 0o600,
        "runtime.db-wal": 0o600,
        "runtime.db-shm": 0o600,
    }
    private_file(str(tmp_path / "missing" / "runtime.db"))  # the driver reports that
    private_file(":memory:")


def test_the_state_store_is_private_from_its_first_write(tmp_path: Path) -> None:
    engine = connect(None, tmp_path)
    try:
        with engine.begin() as conn:  # a write: SQLite makes its -wal and -shm files
            conn.execute(text("CREATE TABLE probe (x INTEGER)"))
        found = {p.name: mode(p) for p in (tmp_path / ".agentform").iterdir()}
    finally:
        engine.dispose()
    assert mode(tmp_path / ".agentform") == 0o700
    assert found == {"state.db": 0o600, "state.db-wal": 0o600, "state.db-shm": 0o600}
