"""The edit log: every user edit as the rows it changed, so it can be undone and redone.

An edit is a list of ``RowChange`` (table, key, row before, row after) over the user tables
(``TABLES``). Applying writes the afters and appends one ``edits`` row holding every change;
undo writes the befores back, redo the afters again; all in the caller's transaction. The log
is linear: a new edit drops the undone edits (the redo stack), as in every editor. Because the
log lives in the session file, undo works after closing and reopening it, and from another
program (``dcgui undo``) than the one that made the edit.

Rows are stored whole (not as "set flag x"), so undo needs no knowledge of what an edit meant
and restores exactly what was there: another flag, its provenance, or no row at all.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dcgui.store.names import name_from_db, name_to_db

Row = dict[str, Any]  # column -> value, key column excluded


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[str, ...]
    blobs: frozenset[str] = frozenset()


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("image_flags", "path", ("flag", "source")),
        Table("cluster_user", "cluster", ("name", "tags", "notes")),
        Table("cluster_groups", "id",
              ("kind", "epoch", "cluster", "parts", "labels", "units", "name", "names", "created"),
              frozenset({"labels"})),
        Table("meta", "key", ("value",)),  # only user keys are edited: the named image groups
        Table("dismissed_duplicates", "key", ("paths", "created")),
    )
}
_IN_CHUNK = 500  # keys per "WHERE key IN (...)": well under SQLite's variable limit


@dataclass(frozen=True)
class RowChange:
    table: str
    key: Any
    before: Row | None
    after: Row | None


@dataclass(frozen=True)
class EditRecord:
    """One entry of the log. ``undone``: on the redo stack; ``rows``: rows it changed;
    ``archived``: its merge or split went to an archive with its epochs (no undo, no redo)."""

    id: int
    time: str
    kind: str
    summary: str
    undone: bool
    rows: int
    archived: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time, "kind": self.kind, "summary": self.summary,
                "undone": self.undone, "rows": self.rows, "archived": self.archived}


def read_rows(conn: sqlite3.Connection, table: str, keys: Iterable[Any] | None = None) -> dict[Any, Row]:
    """Current rows of ``table`` (all, or those of ``keys``), by key."""
    t = TABLES[table]
    cols = ", ".join((t.key, *t.columns))
    out: dict[Any, Row] = {}
    if keys is None:
        batches: list[list[Any]] = [[]]
    else:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return out
        wanted = [name_to_db(k) for k in wanted]  # paths that are not UTF-8 are stored as bytes
        batches = [wanted[a:a + _IN_CHUNK] for a in range(0, len(wanted), _IN_CHUNK)]
    for batch in batches:
        if keys is None:
            rows = conn.execute(f"SELECT {cols} FROM {t.name}").fetchall()
        else:
            marks = ", ".join("?" * len(batch))
            rows = conn.execute(f"SELECT {cols} FROM {t.name} WHERE {t.key} IN ({marks})", batch).fetchall()
        for r in rows:
            out[name_from_db(r[0])] = dict(zip(t.columns, r[1:]))
    return out


def write_rows(conn: sqlite3.Connection, changes: Sequence[RowChange], forward: bool) -> None:
    """Write each change's after (``forward``) or before (undo), in order (reversed for undo)."""
    seq = changes if forward else list(reversed(changes))
    for table in dict.fromkeys(c.table for c in seq):
        t = TABLES[table]
        mine = [c for c in seq if c.table == table]
        gone = [(name_to_db(c.key),) for c in mine if (c.after if forward else c.before) is None]
        put = []
        for c in mine:
            row = c.after if forward else c.before
            if row is not None:
                put.append((name_to_db(c.key), *(row.get(col) for col in t.columns)))
        if gone:
            conn.executemany(f"DELETE FROM {t.name} WHERE {t.key} = ?", gone)
        if put:
            cols = ", ".join((t.key, *t.columns))
            marks = ", ".join("?" * (1 + len(t.columns)))
            sets = ", ".join(f"{c} = excluded.{c}" for c in t.columns)
            conn.executemany(
                f"INSERT INTO {t.name} ({cols}) VALUES ({marks}) ON CONFLICT({t.key}) DO UPDATE SET {sets}", put
            )


def _map_blobs(table: str, row: Row | None, convert: Callable[[Any], Any]) -> Row | None:
    """``row`` with ``convert`` applied to its blob columns (the log's JSON holds them as base64)."""
    blobs = TABLES[table].blobs
    if row is None or not blobs:
        return row
    return {k: (convert(v) if k in blobs and v is not None else v) for k, v in row.items()}


def _encode_row(table: str, row: Row | None) -> Row | None:
    return _map_blobs(table, row, lambda v: base64.b64encode(v).decode("ascii"))


def _decode_row(table: str, row: Row | None) -> Row | None:
    return _map_blobs(table, row, base64.b64decode)


def encode_changes(changes: Sequence[RowChange]) -> bytes:
    data = [[c.table, c.key, _encode_row(c.table, c.before), _encode_row(c.table, c.after)] for c in changes]
    # The same text as one json.dumps of the list, written 2,000 rows at a time: one call holds
    # the GIL throughout (0.2-0.5 s for a bulk edit of 100k images), and the window's thread
    # waits for the GIL while a worker saves such an edit.
    parts = [json.dumps(data[i:i + 2000], separators=(",", ":"))[1:-1] for i in range(0, len(data), 2000)]
    return zlib.compress(("[" + ",".join(parts) + "]").encode("utf-8"), 6)


def _loads_rows(text: str) -> Any:
    """``json.loads`` of the log's compact array, one row per call: one call holds the GIL for
    the whole text (an undo of 100k rows stalled the window's thread for seconds on a busy
    machine); between rows another thread may run. Any other layout: the one-call parse."""
    if not text.startswith("[") or text == "[]":
        return json.loads(text)
    decoder = json.JSONDecoder()
    out, i, end = [], 1, len(text) - 1
    try:
        while True:
            item, i = decoder.raw_decode(text, i)
            out.append(item)
            if i < end and text[i] == ",":
                i += 1
            elif i == end and text[i] == "]":
                return out
            else:
                return json.loads(text)
    except ValueError:  # spaces between rows (not written by encode_changes)
        return json.loads(text)


def decode_changes(blob: bytes) -> list[RowChange]:
    data = _loads_rows(zlib.decompress(blob).decode("utf-8"))
    return [RowChange(t, k, _decode_row(t, b), _decode_row(t, a)) for t, k, b, a in data]


_SELECT = "SELECT id, time, kind, summary, undone, rows FROM edits"


def _record(row: tuple[Any, ...]) -> EditRecord:
    i, time, kind, summary, undone, rows = row
    return EditRecord(int(i), str(time), str(kind), str(summary), int(undone) == 1, int(rows),
                      archived=int(undone) == ARCHIVED)


class DamagedEdit(Exception):
    """An edit-log row whose changes do not decode (the store names its file and the fix)."""

    def __init__(self, edit_id: int, detail: object) -> None:
        super().__init__(f"edit {edit_id} of the edit log is damaged ({detail})")
        self.edit_id = edit_id


def _changes(conn: sqlite3.Connection, edit_id: int) -> list[RowChange]:
    blob = conn.execute("SELECT changes FROM edits WHERE id = ?", (edit_id,)).fetchone()[0]
    try:
        return decode_changes(blob)
    except (zlib.error, ValueError, TypeError, KeyError, binascii.Error) as exc:  # UnicodeError, JSON: ValueError
        raise DamagedEdit(edit_id, exc) from exc


def append(conn: sqlite3.Connection, time: str, kind: str, summary: str, changes: Sequence[RowChange]) -> EditRecord:
    """Log an edit whose changes were just written; the redo stack is dropped."""
    conn.execute("DELETE FROM edits WHERE undone = 1")
    cur = conn.execute("INSERT INTO edits (time, kind, summary, changes, rows, undone) VALUES (?, ?, ?, ?, ?, 0)",
                       (time, kind, summary, encode_changes(changes), len(changes)))
    return EditRecord(int(cur.lastrowid or 0), time, kind, summary, False, len(changes))


def undo(conn: sqlite3.Connection, steps: int) -> list[EditRecord]:
    """Undo up to ``steps`` edits, newest first; returns those undone."""
    return _replay(conn, steps, forward=False)


def redo(conn: sqlite3.Connection, steps: int) -> list[EditRecord]:
    """Redo up to ``steps`` undone edits, oldest undone first; returns those redone."""
    return _replay(conn, steps, forward=True)


def _replay(conn: sqlite3.Connection, steps: int, forward: bool) -> list[EditRecord]:
    """Undo (write the befores of the newest live edit) or redo (the afters of the oldest undone
    one), ``steps`` times or until none is left; each edit's ``undone`` mark follows."""
    query = (f"{_SELECT} WHERE undone = 1 ORDER BY id ASC LIMIT 1" if forward
             else f"{_SELECT} WHERE undone = 0 ORDER BY id DESC LIMIT 1")
    done: list[EditRecord] = []
    for _ in range(max(0, int(steps))):
        row = conn.execute(query).fetchone()
        if row is None:
            break
        write_rows(conn, _changes(conn, row[0]), forward=forward)
        conn.execute("UPDATE edits SET undone = ? WHERE id = ?", (0 if forward else 1, row[0]))
        rec = _record(row)
        done.append(EditRecord(rec.id, rec.time, rec.kind, rec.summary, not forward, rec.rows))
    return done


ARCHIVED = 2  # edits.undone: the edit's merge or split went to an archive with its epochs


def archive_groups_after(conn: sqlite3.Connection, epoch: int, note: str) -> int:
    """Remove the merges and splits made on epochs after ``epoch`` (a rewind discards those
    epochs; kept, they would reapply to the retrained ones) and mark every edit that created,
    changed or removed one of them as archived: its summary gets ``note``, and undo and redo
    pass it by. Returns the number of groups removed. Runs in the caller's transaction."""
    gone = {int(r[0]) for r in conn.execute("SELECT id FROM cluster_groups WHERE epoch > ?", (int(epoch),))}
    marked = 0
    for edit_id, blob in conn.execute("SELECT id, changes FROM edits WHERE undone != ?", (ARCHIVED,)).fetchall():
        try:
            changes = decode_changes(blob)
        except (zlib.error, ValueError, TypeError, KeyError, binascii.Error):
            continue  # a damaged row: undo reports it when it gets there
        touched = False
        for c in changes:
            if c.table != "cluster_groups":
                continue
            rows = [r for r in (c.before, c.after) if r is not None]
            if int(c.key) in gone or any(int(r.get("epoch") or 0) > epoch for r in rows):
                touched = True
        if touched:
            conn.execute("UPDATE edits SET undone = ?, summary = summary || ? WHERE id = ?",
                         (ARCHIVED, f" ({note})", edit_id))
            marked += 1
    conn.execute("DELETE FROM cluster_groups WHERE epoch > ?", (int(epoch),))
    return len(gone)


def history(conn: sqlite3.Connection) -> list[EditRecord]:
    """Every logged edit, oldest first (undone ones included, flagged)."""
    return [_record(r) for r in conn.execute(f"{_SELECT} ORDER BY id").fetchall()]


def peek(conn: sqlite3.Connection) -> tuple[EditRecord | None, EditRecord | None]:
    """(the edit undo would undo, the edit redo would redo)."""
    u = conn.execute(f"{_SELECT} WHERE undone = 0 ORDER BY id DESC LIMIT 1").fetchone()
    r = conn.execute(f"{_SELECT} WHERE undone = 1 ORDER BY id ASC LIMIT 1").fetchone()
    return (_record(u) if u else None, _record(r) if r else None)
