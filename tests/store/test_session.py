"""SessionStore on real SQLite files: every table round-trips, queries agree with brute force,
damaged / newer files are refused untouched, a killed writer leaves a consistent file, and a
reader in another connection sees only whole epochs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dcgui.core.config import TrainConfig
from dcgui.core.errors import DcguiError, SessionFileError
from dcgui.core.events import EpochFinished, EpochMetrics
from dcgui.core.images.collection import ImageRecord
from dcgui.store import SessionStore, schema
from tests.store.writer_process import AFTER_COMMIT, expected_epoch

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("writer_process.py")


def records(n: int, labelled: bool = True) -> list[ImageRecord]:
    return [ImageRecord(f"class_{i % 3}/img_{i:05d}.png", 1000 + i, 10**18 + i, f"class_{i % 3}" if labelled else None)
            for i in range(n)]


def sizes(n: int) -> np.ndarray:
    return np.stack([40 + np.arange(n) % 7, 30 + np.arange(n) % 5], axis=1)


def metrics(epoch: int, k: int, **kw: object) -> EpochMetrics:
    base: dict[str, object] = dict(epoch=epoch, nmi_prev=None if epoch == 1 else 0.25 * epoch, nmi_labels=0.5, ari_labels=0.125,
                loss=2.5 / max(epoch, 1), kmeans_objective=123.5, k=k, empty_clusters=1, min_cluster=2, max_cluster=9,
                size_entropy=0.875, seconds_features=1.5, seconds_clustering=0.25, seconds_training=3.0,
                images_per_second=99.5, n_images=0)
    base.update(kw)
    return EpochMetrics(**base)  # type: ignore[arg-type]


def event(epoch: int, matched: np.ndarray, mapping: np.ndarray, ckpt: str = "", **kw: object) -> EpochFinished:
    inverse = np.argsort(mapping).astype(np.int32)
    return EpochFinished(metrics(epoch, len(mapping), n_images=len(matched), **kw), inverse[matched],
                         matched.astype(np.int32), mapping.astype(np.int32), ckpt, "ab" * 32 if ckpt else "")


def new_store(tmp_path: Path, n: int = 20, k: int = 4) -> SessionStore:
    folder = tmp_path / "photos"
    folder.mkdir(exist_ok=True)
    store = SessionStore.create(tmp_path / "s.dcgui", folder, TrainConfig(k=k))
    store.set_images(records(n), [("broken.jpg", "truncated file"), ("empty.png", "zero bytes")],
                     ["class_0", "class_1", "class_2"], sizes=sizes(n))
    return store


def file_state(path: Path) -> tuple[bytes, list[str]]:
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


def writer_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


# ------------------------------------------------------------------------------------------
def test_every_table_round_trips(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=20, k=4)
    cfg = TrainConfig(k=4, arch="smallnet", epochs=7, seed=5)
    store.set_config(cfg)
    rng = np.random.default_rng(0)
    truth = {}
    for e in (1, 2):
        matched = rng.integers(0, 4, 20).astype(np.int32)
        mapping = rng.permutation(4).astype(np.int32)
        truth[e] = (matched, mapping)
        store.record_epoch(event(e, matched, mapping, str(store.checkpoint_dir / f"epoch_{e:04d}.pt")))
    store.record_checkpoint(0, store.checkpoint_dir / "epoch_0000.pt", "00" * 32)
    store.set_cluster_name(2, "  beach  ")
    store.set_cluster_tags(2, ["sea", " ", "sand"])
    store.set_cluster_notes(3, "check these")
    store.set_image_flag([1, 5], "keep")
    store.set_image_flag(7, "exclude")
    store.record_export("csv", tmp_path / "out.csv", {"epoch": 2, "rows": 20})
    store.set_meta("ui", {"zoom": 2})
    store.close()

    for readonly in (False, True):
        s = SessionStore.open(tmp_path / "s.dcgui", readonly=readonly)
        assert s.config == cfg
        assert s.folder == tmp_path / "photos"
        assert s.data_dir == tmp_path / "s.dcgui.d"
        assert s.cache_dir == tmp_path / "s.dcgui.d" / "cache" and s.cache_dir.is_dir()
        assert s.checkpoint_dir == tmp_path / "s.dcgui.d" / "checkpoints" and s.checkpoint_dir.is_dir()
        assert s.created.startswith("20")
        assert s.versions["schema"] == schema.SCHEMA_VERSION and s.versions["python"]
        assert s.n_images == 20
        assert s.image_paths() == [r.relpath for r in records(20)]
        assert s.skipped() == [("broken.jpg", "truncated file"), ("empty.png", "zero bytes")]
        assert s.label_names() == ["class_0", "class_1", "class_2"]
        np.testing.assert_array_equal(s.labels(), np.arange(20) % 3)
        info = s.image_info(5)
        assert info == {"path": "class_2/img_00005.png", "size": 1005, "mtime_ns": 10**18 + 5, "width": 45,
                        "height": 30, "label": "class_2", "flag": "keep", "flag_source": "hand"}
        assert s.image_flags() == {1: "keep", 5: "keep", 7: "exclude"}
        assert s.last_epoch() == 2
        got = s.epochs()
        assert [m.epoch for m in got] == [1, 2]
        assert got[1] == metrics(2, 4, n_images=20)  # every EpochMetrics field survives
        for e, (matched, mapping) in truth.items():
            np.testing.assert_array_equal(s.assignments(e), matched)
            assert s.assignments(e).dtype == np.int32
            np.testing.assert_array_equal(s.assignments(e, matched=False), np.argsort(mapping)[matched])
            np.testing.assert_array_equal(s.cluster_sizes(e), np.bincount(matched, minlength=4))
        assert s.checkpoints() == [
            (0, s.checkpoint_dir / "epoch_0000.pt", "00" * 32),
            (1, s.checkpoint_dir / "epoch_0001.pt", "ab" * 32),
            (2, s.checkpoint_dir / "epoch_0002.pt", "ab" * 32),
        ]
        assert s.checkpoint_path(2) == s.checkpoint_dir / "epoch_0002.pt"
        assert s.checkpoint_path(9) == s.checkpoint_dir / "epoch_0009.pt"  # where the engine will write it
        assert s.cluster_user_data() == {
            2: {"name": "beach", "tags": ["sea", "sand"], "notes": ""},
            3: {"name": None, "tags": [], "notes": "check these"},
        }
        (export,) = s.exports()
        assert export["kind"] == "csv" and export["path"] == str(tmp_path / "out.csv")
        assert export["details"] == {"epoch": 2, "rows": 20}
        assert s.get_meta("ui") == {"zoom": 2} and s.get_meta("absent", 3) == 3
        assert s.integrity_check() == "ok"
        s.close()

    # Checkpoints are stored relative to the data folder, so moving the session keeps them.
    conn = sqlite3.connect(tmp_path / "s.dcgui")
    assert conn.execute("SELECT file FROM checkpoints WHERE epoch = 1").fetchone()[0] == "checkpoints/epoch_0001.pt"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_epoch_metric_columns_cover_every_field(tmp_path: Path) -> None:
    """A new EpochMetrics field needs a migration: this fails until the column exists."""
    store = new_store(tmp_path)
    columns = set(store.db["epochs"].columns_dict)
    assert {f.name for f in dataclasses.fields(EpochMetrics)} <= columns


def test_clearing_user_data(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.set_cluster_name(1, "x")
    store.set_image_flag([2, 3], "duplicate")
    store.set_cluster_name(1, "")
    store.set_image_flag([2], None)
    assert store.cluster_user_data() == {}
    assert store.image_flags() == {3: "duplicate"}
    with pytest.raises(ValueError, match="image flag 'maybe' is unknown"):
        store.set_image_flag([1], "maybe")
    with pytest.raises(IndexError, match="out of range"):
        store.set_image_flag([20], "keep")


def test_nan_loss_and_missing_nmi_round_trip(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=8, k=2)
    matched = np.array([0, 1] * 4)
    store.record_epoch(event(1, matched, np.array([1, 0]), loss=float("nan"), nmi_labels=None, ari_labels=None))
    (m,) = store.epochs()
    assert np.isnan(m.loss) and m.nmi_labels is None and m.nmi_prev is None


@pytest.mark.parametrize(("n", "k"), [(10_000, 300), (5_000, 70_000)])
def test_members_and_history_agree_with_brute_force(tmp_path: Path, n: int, k: int) -> None:
    """Across chunk boundaries, with uint16 and (k > 65535) uint32 chunks."""
    folder = tmp_path / "photos"
    store = SessionStore.create(tmp_path / "s.dcgui", folder, TrainConfig(k=2))
    store.set_images(records(n, labelled=False), [], None)
    assert store.labels() is None
    rng = np.random.default_rng(1)
    truth = []
    for e in range(1, 5):
        matched = rng.integers(0, k, n).astype(np.int32)
        matched[:50] = k - 1  # a non-trivial cluster to query
        truth.append(matched)
        store.record_epoch(event(e, matched, rng.permutation(k)))
    truth_arr = np.stack(truth)
    reader = SessionStore.open(tmp_path / "s.dcgui", readonly=True)
    cs = reader.chunk_size
    for i in (0, cs - 1, cs, 2 * cs + 1, n - 1, 1234):
        np.testing.assert_array_equal(reader.image_history(i), truth_arr[:, i])
        assert reader.image_history(i).dtype == np.int32
    for e in (1, 4):
        for c in (k - 1, 0, int(truth_arr[e - 1, 4097])):
            members = reader.cluster_members(e, c)
            assert members.dtype == np.int64
            np.testing.assert_array_equal(members, np.flatnonzero(truth_arr[e - 1] == c))
    with pytest.raises(IndexError):
        reader.image_history(n)
    with pytest.raises(KeyError, match="epoch 9 is not recorded"):
        reader.assignments(9)


def test_record_epoch_rejects_inconsistent_data_atomically(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=20, k=4)
    good = np.arange(20) % 4
    bad_events = [
        event(1, good[:19], np.arange(4)),  # wrong number of images
        event(1, good, np.array([0, 0, 1, 2])),  # mapping not a permutation
        EpochFinished(metrics(1, 4), good, (good + 1) % 4, np.arange(4)),  # matched != mapping[raw]
        event(0, good, np.arange(4)),
    ]
    for ev in bad_events:
        with pytest.raises(ValueError, match="record_epoch"):
            store.record_epoch(ev)
    assert store.last_epoch() == 0 and store.epochs() == []
    assert store.db["assignments"].count == 0 and store.db["clusters"].count == 0


def test_rerecord_and_truncate(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=20, k=4)
    a, b = np.arange(20) % 4, (np.arange(20) // 5) % 4
    for e in (1, 2, 3):
        store.record_epoch(event(e, a, np.arange(4), str(store.checkpoint_dir / f"epoch_{e:04d}.pt")))
    store.record_epoch(event(2, b, np.array([3, 2, 1, 0])))  # a resumed run redid epoch 2
    np.testing.assert_array_equal(store.assignments(2), b)
    np.testing.assert_array_equal(store.image_history(6), [2, 1, 2])
    store.truncate_epochs(1)
    assert store.last_epoch() == 1 and [c[0] for c in store.checkpoints()] == [1]
    np.testing.assert_array_equal(store.image_history(6), [2])


def test_flags_follow_paths_across_a_rescan(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=6, k=2)
    store.set_image_flag([0, 2, 4], "exclude")
    recs = records(6)
    flagged = {recs[i].relpath for i in (0, 2, 4)}
    # Rescan: a new first file shifts every index, and image 4 is gone.
    new = [ImageRecord("a_new.png", 1, 1, None), *recs[:4], recs[5]]
    store.set_images(new, [], None)
    assert store.image_paths()[0] == "a_new.png"
    got = {store.image_paths()[i] for i in store.image_flags()}
    assert got == flagged - {recs[4].relpath}
    assert store.labels() is None  # labels only when every image has one


def test_set_images_refuses_a_changed_folder_after_training(tmp_path: Path) -> None:
    store = new_store(tmp_path, n=8, k=2)
    store.record_epoch(event(1, np.arange(8) % 2, np.arange(2)))
    store.set_images(records(8), [], None)  # same images (e.g. metadata refresh): fine
    with pytest.raises(DcguiError, match=r"changed since epoch 1 .*1 added, 0 removed.*new session"):
        store.set_images([*records(8), ImageRecord("new.png", 1, 1, None)], [], None)


def test_create_refuses_an_existing_file(tmp_path: Path) -> None:
    new_store(tmp_path).close()
    before = file_state(tmp_path / "s.dcgui")
    with pytest.raises(SessionFileError, match="already exists"):
        SessionStore.create(tmp_path / "s.dcgui", tmp_path, TrainConfig())
    assert file_state(tmp_path / "s.dcgui") == before


def test_readonly_store_cannot_write(tmp_path: Path) -> None:
    new_store(tmp_path).close()
    before = file_state(tmp_path / "s.dcgui")
    reader = SessionStore.open(tmp_path / "s.dcgui", readonly=True)
    with pytest.raises(SessionFileError, match="read-only"):
        reader.set_cluster_name(1, "x")
    reader.close()
    assert file_state(tmp_path / "s.dcgui")[0] == before[0]


def _set_user_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    new_store(tmp_path).close()
    path = tmp_path / "s.dcgui"
    _set_user_version(path, schema.SCHEMA_VERSION + 5)
    before = file_state(path)
    for readonly in (True, False):
        with pytest.raises(SessionFileError) as err:
            SessionStore.open(path, readonly=readonly)
        assert str(err.value) == (f"{path} was written by a newer dcgui (schema {schema.SCHEMA_VERSION + 5} > "
                                  f"{schema.SCHEMA_VERSION}): update dcgui to open it")
        assert file_state(path) == before


def _garbled(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[16:18] = b"\x00\x03"  # an impossible page size in the header
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["empty", "text", "truncated", "random", "garbled_header", "foreign_sqlite"])
def test_damaged_or_foreign_files_are_refused_untouched(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "s.dcgui"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "text":
        path.write_text("these are my holiday notes\n" * 20)
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    elif damage == "foreign_sqlite":
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.commit()
        conn.close()
    else:
        new_store(tmp_path).close()
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:60])
        else:
            _garbled(path)
    before = file_state(path)
    for readonly in (True, False):
        with pytest.raises(SessionFileError) as err:
            SessionStore.open(path, readonly=readonly)
        assert str(path) in str(err.value)
        assert "left untouched" in str(err.value)
        assert file_state(path) == before


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(SessionFileError, match="does not exist"):
        SessionStore.open(tmp_path / "nope.dcgui")
    with pytest.raises(SessionFileError, match="is a folder"):
        SessionStore.open(tmp_path)


def test_migration_upgrades_an_older_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = new_store(tmp_path, n=8, k=2)
    store.record_epoch(event(1, np.arange(8) % 2, np.array([1, 0])))
    store.close()
    path = tmp_path / "s.dcgui"

    def v2(db) -> None:  # type: ignore[no-untyped-def]
        db["cluster_user"].add_column("colour", str)
        db.execute("UPDATE cluster_user SET colour = 'red'")

    old = len(schema.MIGRATIONS)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, v2])
    before = file_state(path)
    with pytest.raises(SessionFileError, match=rf"older session format \(schema {old} < {old + 1}\)"):
        SessionStore.open(path, readonly=True)
    assert file_state(path) == before
    upgraded = SessionStore.open(path)
    assert upgraded.versions["schema"] == old + 1
    assert "colour" in upgraded.db["cluster_user"].columns_dict
    assert upgraded.db["session"].get(1)["schema_version"] == old + 1
    np.testing.assert_array_equal(upgraded.assignments(1), np.arange(8) % 2)
    upgraded.close()
    SessionStore.open(path, readonly=True).close()  # now current

    def broken(db) -> None:  # type: ignore[no-untyped-def]
        db["images"].add_column("extra", int)
        raise RuntimeError("migration bug")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="migration bug"):
        SessionStore.open(path)
    conn = sqlite3.connect(path)  # the failed upgrade was rolled back completely
    assert conn.execute("PRAGMA user_version").fetchone()[0] == old + 1
    assert "extra" not in [r[1] for r in conn.execute("PRAGMA table_info(images)")]
    conn.close()


def test_folder_found_after_moving_session_and_photos(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "photos").mkdir()
    store = SessionStore.create(project / "s.dcgui", project / "photos", TrainConfig())
    store.record_checkpoint(0, store.checkpoint_dir / "epoch_0000.pt", "")
    store.close()
    moved = tmp_path / "elsewhere"
    shutil.move(project, moved)
    s = SessionStore.open(moved / "s.dcgui")
    assert s.folder == moved / "photos"
    assert s.checkpoints()[0][1] == moved / "s.dcgui.d" / "checkpoints" / "epoch_0000.pt"
    s.set_folder(tmp_path)
    assert s.folder == tmp_path


def test_data_version_sees_other_connections_only(tmp_path: Path) -> None:
    writer = new_store(tmp_path)
    reader = SessionStore.open(tmp_path / "s.dcgui", readonly=True)
    v_reader, v_writer = reader.data_version(), writer.data_version()
    writer.set_cluster_name(1, "a")
    assert writer.data_version() == v_writer
    assert reader.data_version() != v_reader
    assert reader.cluster_user_data()[1]["name"] == "a"
    # Cached whole-table reads follow another connection's commits.
    assert reader.n_images == 20
    writer.set_images(records(5), [], None)
    assert reader.n_images == 5


def test_concurrent_reader_sees_only_whole_epochs(tmp_path: Path) -> None:
    n, k, epochs = 30_000, 200, 25
    store = SessionStore.create(tmp_path / "s.dcgui", tmp_path, TrainConfig(k=2))
    store.set_images(records(n, labelled=False), [], None)
    reader = SessionStore.open(tmp_path / "s.dcgui", readonly=True)
    proc = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path / "s.dcgui"), str(n), str(k), "1", str(epochs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=writer_env(), text=True)
    seen: set[int] = set()
    version = reader.data_version()
    deadline = time.monotonic() + 120
    names = 0
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            v = reader.data_version()
            if v == version:
                time.sleep(0.002)
                continue
            version = v
            last = reader.last_epoch()
            if last:
                seen.add(last)
                matched, _ = expected_epoch(last, n, k)
                np.testing.assert_array_equal(reader.assignments(last), matched)
                assert int(reader.cluster_sizes(last).sum()) == n
                assert reader.checkpoint_path(last).name == f"epoch_{last:04d}.pt"
            # A second writer (the GUI naming a cluster) while the trainer commits epochs.
            store.set_cluster_name(names % k, f"name {names}")
            names += 1
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == f"committed {epochs}"
    assert len(seen) >= 2  # the reader watched several epochs arrive
    assert reader.last_epoch() == epochs
    assert names >= 2 and store.cluster_user_data()[(names - 1) % k]["name"] == f"name {names - 1}"
    assert reader.integrity_check() == "ok"


# Where the writer is killed inside the last epoch's write transaction, and whether that epoch
# must be there afterwards. The trace fires before a statement runs: "X#n" = the n-1 statements
# before the n-th X ran.
KILL_POINTS = [
    ("DELETE FROM assignments#1", False),  # BEGIN IMMEDIATE taken, nothing written
    ('INSERT INTO "epoch_mappings"#1', False),  # the epochs row written, not its mapping
    ("INSERT INTO assignments#10", False),  # half of the assignment chunks
    ("INSERT INTO clusters#1000", False),  # half of the cluster rows
    ('INSERT INTO "checkpoints"#1', False),
    ("COMMIT#1", False),  # everything written, nothing committed
    (AFTER_COMMIT, True),  # committed, but the process died before saying so
]


def _check_epochs(path: Path, last: int, n: int, k: int) -> None:
    """Epochs 1..last, each complete, in a file a viewer and then a writer can open."""
    for readonly in (True, False):  # a viewer can read the crashed file before anyone recovers it
        s = SessionStore.open(path, readonly=readonly)
        try:
            assert s.last_epoch() == last and s.integrity_check() == "ok"
            assert [m.epoch for m in s.epochs()] == list(range(1, last + 1))
            for e in range(1, last + 1):
                matched, mapping = expected_epoch(e, n, k)
                np.testing.assert_array_equal(s.assignments(e), matched)
                np.testing.assert_array_equal(s.assignments(e, matched=False), np.argsort(mapping)[matched])
                np.testing.assert_array_equal(s.cluster_sizes(e), np.bincount(matched, minlength=k))
            assert [c[0] for c in s.checkpoints()] == list(range(1, last + 1))
            assert len(s.image_history(n - 1)) == last
        finally:
            s.close()


def _write_and_kill(path: Path, n: int, k: int, first: int, last: int, point: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(WRITER), str(path), str(n), str(k), str(first), str(last), point],
                          capture_output=True, env=writer_env(), text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return proc.stdout.splitlines()


def test_killed_writer_leaves_last_committed_epoch(tmp_path: Path) -> None:
    """SIGKILL a real writer process at chosen points of its write transaction: the file always
    reopens with every committed epoch complete and nothing of the interrupted one."""
    n, k = 20_000, 2_000  # 20 assignment chunks, 2,000 cluster rows per epoch
    path = tmp_path / "s.dcgui"
    store = SessionStore.create(path, tmp_path, TrainConfig(k=2))
    store.set_images(records(n, labelled=False), [], None)
    store.close()
    committed = 0
    for point, lands in KILL_POINTS:
        # one epoch commits, the kill lands in the next one's transaction
        out = _write_and_kill(path, n, k, committed + 1, committed + 2, point)
        assert out == ["ready", f"committed {committed + 1}"], point
        committed += 2 if lands else 1
        _check_epochs(path, committed, n, k)
    # Re-recording a stored epoch deletes its rows first: killed half-way, the old rows stay.
    out = _write_and_kill(path, n, k, committed, committed, "INSERT INTO clusters#1000")
    assert out == ["ready"]
    _check_epochs(path, committed, n, k)


def test_stored_json_is_plain(tmp_path: Path) -> None:
    """The config column is readable JSON (users and other tools can inspect a session)."""
    new_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "s.dcgui")
    cfg = json.loads(conn.execute("SELECT config FROM session").fetchone()[0])
    conn.close()
    assert cfg["k"] == 4 and cfg["arch"] == "smallnet"


def test_image_list_cache_follows_another_connection(tmp_path: Path) -> None:
    """The image list is cached across user edits but re-read when any connection rescans."""
    viewer = new_store(tmp_path, n=6, k=2)
    assert viewer.n_images == 6
    viewer.set_image_flag(0, "keep")  # a commit of ours: still the same list
    other = SessionStore.open(tmp_path / "s.dcgui")
    other.set_images(records(9), [])
    other.close()
    assert viewer.image_paths() == [r.relpath for r in records(9)]
    assert len(viewer.image_stats()["size"]) == 9
    viewer.close()
