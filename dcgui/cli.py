"""The ``dcgui`` command: the window by default, and headless sub-commands.

    dcgui                      open the window (``--demo``: on the bundled demo collection)
    dcgui gui [SESSION]        open the window on a session
    dcgui train FOLDER --session S.dcgui      train (or resume) DeepCluster on a folder of photos
    dcgui info S.dcgui [--json]               settings, images, per-epoch metrics
    dcgui clusters S.dcgui --csv OUT          cluster of every image at an epoch
    dcgui embed S.dcgui FOLDER --out F.npz    features of any folder of images
    dcgui export S.dcgui --format onnx --out backbone.onnx
    dcgui curate S.dcgui --out DIR [--copy|--symlink|--move] [--dry-run]
    dcgui similar | duplicates | outliers | map | eval ...   (see dcgui.cli_explore)

Errors meant for the user print one line ``dcgui: error: ...`` and exit with status 2.
Progress bars go to stderr (only on a terminal); results go to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from dcgui import __version__
from dcgui.core.config import ARCHS, DEVICES, FIELD_HELP, HEADS, TrainConfig
from dcgui.core.control import RunControl, StopRequested
from dcgui.core.errors import DcguiError
from dcgui.core.events import (
    CollectionReady,
    EpochFinished,
    Event,
    Finished,
    Message,
    Paused,
    PhaseProgress,
    Resumed,
    Stopped,
)

if TYPE_CHECKING:
    import numpy as np

    from dcgui.store import SessionStore

T = TypeVar("T")
EXIT_USAGE = 2  # user errors, as argparse does
EXIT_INTERRUPTED = 130  # stopped with Ctrl-C (128 + SIGINT)
# Settings that may change when a trained session resumes: they do not change what is learnt.
RESUMABLE_CHANGES = {"epochs", "device", "workers", "threads"}
PENDING_OVERRIDES = "config_overrides"  # meta: the settings given on the command line that created a session

_PHASE_LABELS = {
    "scan": ("scanning files", "files"),
    "cache": ("decoding images", "img"),
    "features": ("features", "img"),
    "clustering": ("k-means", "step"),
    "training": ("training", "img"),
    "curate": ("curating", "files"),
    "embed": ("embedding", "img"),
}


# -------------------------------------------------------------------------------------------
# progress and output
# -------------------------------------------------------------------------------------------
class Progress:
    """One tqdm bar on stderr per (phase, epoch), driven by ``PhaseProgress`` events.

    Bars show only on a terminal (``enabled=None``), so logs and pipes stay clean.
    """

    def __init__(self, enabled: bool | None = None, file: TextIO | None = None, mininterval: float = 0.2) -> None:
        self.disable = None if enabled is None else not enabled
        self.file = file or sys.stderr
        self.mininterval = mininterval
        self._bar: Any = None
        self._key: tuple[str, int] | None = None

    def update(self, ev: PhaseProgress, epochs: int | None = None) -> None:
        from tqdm import tqdm

        key = (ev.phase, ev.epoch)
        if key != self._key:
            self.close()
            label, unit = _PHASE_LABELS.get(ev.phase, (ev.phase, "it"))
            if ev.epoch:
                label = f"epoch {ev.epoch}{f'/{epochs}' if epochs else ''} {label}"
            self._bar = tqdm(total=ev.total or None, desc=label, unit=unit, file=self.file,
                             disable=self.disable, leave=False, dynamic_ncols=True,
                             mininterval=self.mininterval)
            self._key = key
        bar = self._bar
        if ev.total and bar.total != ev.total:
            bar.total = ev.total
        if ev.images_per_second:
            bar.set_postfix_str(f"{ev.images_per_second:.0f} img/s", refresh=False)
        bar.update(max(ev.done - bar.n, 0))
        if ev.total and ev.done >= ev.total:
            bar.refresh()  # show the completed state even within mininterval

    def write(self, text: str, file: TextIO | None = None) -> None:
        """Print a line without breaking an active bar."""
        from tqdm import tqdm

        tqdm.write(text, file=file or sys.stdout)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._key = None


def _err(text: str) -> None:
    print(f"dcgui: {text}", file=sys.stderr)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _json_safe(value: Any) -> Any:
    """NaN / inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _open_session(path: str, readonly: bool) -> SessionStore:
    from dcgui.store import SessionStore

    return SessionStore.open(Path(path).expanduser(), readonly=readonly)


def _pick_epoch(store: SessionStore, epoch: int | None, allow_zero: bool = False) -> int:
    last = store.last_epoch()
    if epoch is None:
        if last == 0:
            raise DcguiError(f"{store.path} has no trained epoch yet: run `dcgui train` first")
        return last
    low = 0 if allow_zero else 1
    if not low <= epoch <= last:
        have = f"epochs {low}-{last}" if last else ("only epoch 0 (random initialisation)" if allow_zero else "no epoch")
        raise DcguiError(f"epoch {epoch} of {store.path} is not trained (it has {have}): choose --epoch in that range")
    return epoch


def _run(gen: Generator[Event, None, T], progress: Progress, epochs: int | None = None) -> T:
    """Drive a generator that only reports progress, and return its result."""
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            progress.close()
            return stop.value  # type: ignore[no-any-return]
        if isinstance(ev, PhaseProgress):
            progress.update(ev, epochs)
        elif isinstance(ev, Message):
            progress.write(f"{ev.level}: {ev.text}", sys.stderr)


@contextmanager
def _sigint_stops(control: RunControl, progress: Progress) -> Iterator[None]:
    """Ctrl-C asks the engine to stop at the next batch; a second Ctrl-C aborts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if control.stop_requested:
            raise KeyboardInterrupt
        control.stop()
        progress.write("\nstopping after the current batch (press Ctrl-C again to abort now)...", sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -------------------------------------------------------------------------------------------
# train
# -------------------------------------------------------------------------------------------
def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "epochs": args.epochs, "k": args.k, "arch": args.arch, "image_size": args.image_size,
        "batch_size": args.batch_size, "device": args.device, "seed": args.seed, "workers": args.workers,
        "threads": args.threads, "samples_per_epoch": args.samples_per_epoch,
        "head": args.head, "sobel": False if args.no_sobel else None,
        "projection": False if args.no_projection else None,
    }
    return {k: v for k, v in given.items() if v is not None}


def _device_type(name: str) -> str:
    from dcgui.core.device import resolve_device

    return resolve_device(name).type


def _resume_command(folder: Path, session: Path, epochs: int) -> str:
    return shlex.join(["dcgui", "train", str(folder), "--session", str(session), "--epochs", str(epochs)])


def _env_rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0  # DistContext.from_env explains the bad value


def cmd_train(args: argparse.Namespace) -> int:
    from dcgui.store import SessionStore

    folder = Path(args.folder).expanduser().absolute()
    session = Path(args.session).expanduser().absolute()
    overrides = _overrides(args)
    control = RunControl()
    store: SessionStore | None = None
    pending = created = False
    if _env_rank() == 0 and session.exists():
        # One trainer per session, checked before torch loads: a second one is refused at once,
        # naming the other process; nothing is written before the settings are checked.
        store = SessionStore.open(session)
        try:
            store.claim_trainer()
            pending, overrides = _check_resume(store, folder, overrides)
        except BaseException:
            store.close()
            raise
    try:
        from dcgui import runner
        from dcgui.core.config import default_config
        from dcgui.core.distributed import DistContext

        # Under torchrun: rank 0 owns the session (create, scan, decode, write); the other ranks
        # wait for it at a barrier, then train their share of every epoch with DDP.
        dist = DistContext.from_env(overrides.get("device", "auto"))
    except BaseException:
        if store is not None:
            store.close()
        raise
    if dist.is_distributed and not dist.is_main:
        with dist, _sigint_stops(control, Progress(False)):
            for ev in runner.iter_train_rank(session, dist, control):
                if isinstance(ev, Stopped):
                    return EXIT_INTERRUPTED
        return 0
    progress = Progress(args.progress)

    if store is None:
        if not folder.is_dir():
            raise DcguiError(f"the folder {folder} does not exist: give the folder that holds your photos")
        device_type = _device_type(overrides.get("device", "auto"))
        # The cache size depends on image_size only, so a provisional config (k decided later,
        # once the number of usable images is known) is enough to prepare the collection. It is
        # validated here, before anything is written; the user's own settings are stored with
        # the new file, so a run interrupted while scanning resumes with them.
        provisional = default_config(1_000_000, device_type, None, **overrides)
        store = SessionStore.create(session, folder, provisional,
                                    meta={"config_pending": True, PENDING_OVERRIDES: overrides})
        pending = created = True
        try:
            store.claim_trainer()
        except BaseException:
            store.close()
            raise
        progress.write(f"created session {session}", sys.stderr)

    with dist, store, _sigint_stops(control, progress):
        try:
            if pending:
                cache = _run(runner.iter_prepare(store, control), progress)
                n_labels = len(store.label_names())
                device_type = _device_type(overrides.get("device", store.config.device))
                config = default_config(len(cache.records), device_type, n_labels or None, **overrides)
                store.set_config(config)
                store.set_meta("config_pending", False)
                progress.write(
                    f"{len(cache.records)} images ({len(store.skipped())} skipped); "
                    f"arch={config.arch} k={config.k} image_size={config.image_size} epochs={config.epochs}",
                    sys.stderr,
                )
            config = store.config
            target = config.epochs if args.epochs is None else args.epochs
            done = store.last_epoch()
            if done >= target and not dist.is_distributed:  # other ranks wait for the engine
                print(f"{session} already has {done} trained epochs (target {target}); "
                      f"train more with --epochs {done + 10}")
                return 0
            return _train_loop(store, control, progress, folder, session, target, dist)
        except (DcguiError, ValueError):
            if created and store.last_epoch() == 0 and not store.checkpoints():
                _discard_new_session(store)  # made seconds ago by this command: leave no half session
            raise
        except StopRequested:  # stopped while scanning or decoding, before any epoch ran
            progress.close()
            _err(f"stopped; epoch {store.last_epoch()} is saved. Resume with:\n  "
                 f"{_resume_command(folder, session, args.epochs or store.config.epochs)}")
            return EXIT_INTERRUPTED
        except KeyboardInterrupt:
            progress.close()
            _err(f"aborted; epoch {store.last_epoch()} is saved. Resume with:\n  "
                 f"{_resume_command(folder, session, args.epochs or store.config.epochs)}")
            return EXIT_INTERRUPTED


def _check_resume(store: SessionStore, folder: Path, overrides: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Check an existing session against the command line; apply allowed changes.

    Returns (pending, overrides): pending when the session's config is still provisional (decided
    after the scan; the settings given when it was created count, the command line's win)."""
    if folder.resolve() != store.folder.resolve():
        raise DcguiError(
            f"{store.path} belongs to the folder {store.folder}, not {folder}: give that folder to resume, "
            "or a new --session file to train on this one"
        )
    if store.get_meta("config_pending", False):
        merged = {**(store.get_meta(PENDING_OVERRIDES) or {}), **overrides}
        provisional = store.config.replace(**merged)  # validates before anything is written
        store.set_config(provisional)
        store.set_meta(PENDING_OVERRIDES, merged)
        return True, merged
    config = store.config
    config.replace(**overrides)  # an invalid value is refused as such, before any other check
    changes = {k: v for k, v in overrides.items() if getattr(config, k) != v}
    trained = store.last_epoch() > 0 or bool(store.checkpoints())
    fixed = sorted(set(changes) - RESUMABLE_CHANGES)
    if trained and fixed:
        name = fixed[0]
        flag = {"sobel": "--no-sobel", "projection": "--no-projection"}.get(
            name, f"--{name.replace('_', '-')} {changes[name]}")
        raise DcguiError(
            f"{flag} differs from the session's {name}={getattr(config, name)!r}: a session's settings "
            "are fixed once it has trained; use a new --session file to train with other settings"
        )
    if changes:
        store.set_config(config.replace(**changes))
    return False, overrides


def _discard_new_session(store: SessionStore) -> None:
    """Remove a session this command created before anything was trained (the image cache in
    its data folder is kept: a corrected command reuses it)."""
    from dcgui.store.lock import LOCK_NAME

    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(store.path) + suffix).unlink(missing_ok=True)
    (store.data_dir / LOCK_NAME).unlink(missing_ok=True)
    for d in (store.cache_dir, store.checkpoint_dir, store.data_dir):
        with contextlib.suppress(OSError):
            d.rmdir()  # only when empty


def _train_loop(store: SessionStore, control: RunControl, progress: Progress, folder: Path, session: Path,
                target: int, dist: Any = None) -> int:
    from dcgui import runner

    k = store.config.k
    for ev in runner.iter_train(store, control, epochs=target, dist=dist):
        if isinstance(ev, PhaseProgress):
            progress.update(ev, target)
        elif isinstance(ev, EpochFinished):
            m = ev.metrics
            progress.close()
            progress.write(
                f"epoch {m.epoch}/{target}  loss {_fmt(m.loss)}  NMI(t-1,t) {_fmt(m.nmi_prev)}  "
                f"NMI(labels) {_fmt(m.nmi_labels)}  empty {m.empty_clusters}/{k}  "
                f"sizes {m.min_cluster}-{m.max_cluster}  {m.seconds:.1f} s"
            )
        elif isinstance(ev, Message):
            progress.write(f"{ev.level}: {ev.text}", sys.stderr)
        elif isinstance(ev, CollectionReady) and ev.skipped:
            progress.write(f"{len(ev.skipped)} file(s) skipped (see `dcgui info {session}`)", sys.stderr)
        elif isinstance(ev, Paused | Resumed):
            progress.write(f"{type(ev).__name__.lower()} at epoch {ev.epoch}", sys.stderr)
        elif isinstance(ev, Stopped):
            progress.close()
            _err(f"stopped; epoch {ev.last_completed_epoch} is saved. Resume with:\n  "
                 f"{_resume_command(folder, session, target)}")
            return EXIT_INTERRUPTED
        elif isinstance(ev, Finished):
            progress.close()
            progress.write(f"done: {ev.last_completed_epoch} epochs in {session}")
    return 0


# -------------------------------------------------------------------------------------------
# info / clusters
# -------------------------------------------------------------------------------------------
def _info_dict(store: SessionStore) -> dict[str, Any]:
    epochs = [m.to_dict() for m in store.epochs()]
    return _json_safe({
        "session": str(store.path),
        "folder": str(store.folder),
        "created": store.created,
        "versions": store.versions,
        "config": store.config.to_dict(),
        "images": store.n_images,
        "skipped": [{"path": p, "reason": r} for p, r in store.skipped()],
        "label_names": store.label_names(),
        "epochs": epochs,
        "checkpoints": [{"epoch": e, "path": str(p), "sha256": s} for e, p, s in store.checkpoints()],
        "clusters": {str(c): d for c, d in store.cluster_user_data().items()},
        "flags": {str(i): f for i, f in store.image_flags().items()},
        "exports": store.exports(),
    })


def cmd_info(args: argparse.Namespace) -> int:
    with _open_session(args.session, readonly=True) as store:
        info = _info_dict(store)
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    v = info["versions"]
    out = [
        f"session   {info['session']}  (created {info['created']}, dcgui {v['dcgui']}, torch {v['torch']}, schema {v['schema']})",
        f"folder    {info['folder']}",
        f"images    {info['images']} used, {len(info['skipped'])} skipped",
    ]
    if info["label_names"]:
        names = info["label_names"]
        out.append(f"labels    {len(names)}: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}")
    out.append("config    " + " ".join(f"{k}={v}" for k, v in info["config"].items()))
    if info["skipped"]:
        out.append("skipped files:")
        out += [f"  {s['path']}: {s['reason']}" for s in info["skipped"]]
    if info["epochs"]:
        out.append("epochs:")
        out.append(f"  {'epoch':>5} {'loss':>8} {'NMI t-1':>8} {'NMI lab':>8} {'ARI lab':>8} "
                   f"{'empty':>6} {'min':>6} {'max':>6} {'entropy':>8} {'seconds':>8}")
        for m in info["epochs"]:
            out.append(
                f"  {m['epoch']:>5} {_fmt(m['loss']):>8} {_fmt(m['nmi_prev']):>8} {_fmt(m['nmi_labels']):>8} "
                f"{_fmt(m['ari_labels']):>8} {m['empty_clusters']:>6} {m['min_cluster']:>6} {m['max_cluster']:>6} "
                f"{_fmt(m['size_entropy']):>8} {_fmt(m['seconds'], 1):>8}"
            )
    else:
        out.append("epochs:   none trained yet")
    ck = info["checkpoints"]
    if ck:
        out.append(f"checkpoints: {len(ck)} (epochs {ck[0]['epoch']}-{ck[-1]['epoch']})")
    named = {c: d for c, d in info["clusters"].items() if d["name"]}
    if named:
        out.append("named clusters: " + ", ".join(f"{c}={d['name']}" for c, d in named.items()))
    for e in info["exports"]:
        out.append(f"export    {e['time']} {e['kind']} -> {e['path']}")
    print("\n".join(out))
    return 0


def cmd_clusters(args: argparse.Namespace) -> int:
    with _open_session(args.session, readonly=True) as store:
        epoch = _pick_epoch(store, args.epoch)
        paths = store.image_paths()
        assign = store.assignments(epoch)

    def write(fh: TextIO) -> None:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "cluster"])
        w.writerows(zip(paths, assign.tolist()))

    if args.csv == "-":
        write(sys.stdout)
    else:
        out = _check_output(args.csv, args.session, "CSV file")
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                write(fh)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        print(f"wrote {len(paths)} rows (epoch {epoch}) to {out}", file=sys.stderr)
    return 0


def _check_output(out: str | Path, session: str | Path, what: str) -> Path:
    """An output file that must not replace the session (``check_output``) in an existing folder."""
    from dcgui.store.paths import check_output

    path = check_output(out, session, what)
    _check_parent(path)
    return path


def _check_parent(out: Path) -> None:
    if not out.parent.is_dir():
        raise DcguiError(f"cannot write {out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise DcguiError(f"cannot write {out}: it is a folder; give a file name")


# -------------------------------------------------------------------------------------------
# embed / export
# -------------------------------------------------------------------------------------------
def _load_model(store: SessionStore, epoch: int) -> tuple[Any, TrainConfig]:
    from dcgui.core.checkpoint import load_model

    path = store.checkpoint_path(epoch)
    if not path.is_file():
        raise DcguiError(
            f"the checkpoint of epoch {epoch} ({path}) is missing: the session's data folder "
            f"{store.data_dir} was moved or deleted"
        )
    return load_model(path)


def decode_square(path: Path, size: int) -> np.ndarray:
    """Decode one image exactly as the image cache does (shorter side -> ``size``, centre crop)."""
    from dcgui.core.cache import THUMB_SIDE, square_crop
    from dcgui.core.imageio import load_rgb

    return square_crop(load_rgb(path, max_side=max(size, THUMB_SIDE)), size)


def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from dcgui.core.collection import iter_scan
    from dcgui.core.device import resolve_device
    from dcgui.core.features import iter_features
    from dcgui.core.imageio import ImageDecodeError

    out = _check_output(args.out, args.session, "features file")
    with _open_session(args.session, readonly=True) as store:
        epoch = _pick_epoch(store, args.epoch, allow_zero=True)
        model, config = _load_model(store, epoch)
    device = resolve_device(args.device)
    model.to(device).eval()
    folder = Path(args.folder).expanduser().absolute()
    progress = Progress(args.progress)
    scan = _run(iter_scan(folder), progress)
    size = config.cache_size
    workers = args.workers or min(os.cpu_count() or 1, 8)
    skipped: list[tuple[str, str]] = list(scan.skipped)
    paths: list[str] = []
    feats: list[np.ndarray] = []
    control = RunControl()

    def decode(relpath: str) -> np.ndarray | str:
        try:
            return decode_square(folder / relpath, size)
        except ImageDecodeError as exc:
            return exc.reason

    chunk = max(args.batch_size * 4, 256)
    total = len(scan.images)
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, total, chunk):
            records = scan.images[start:start + chunk]
            decoded = list(pool.map(decode, [r.relpath for r in records]))
            ok = [(r.relpath, d) for r, d in zip(records, decoded) if not isinstance(d, str)]
            skipped += [(r.relpath, d) for r, d in zip(records, decoded) if isinstance(d, str)]
            if ok:
                pixels = np.stack([d for _, d in ok])
                gen = iter_features(model, pixels, config.image_size, args.batch_size, device, control=control,
                                    epoch=epoch, representation=True)
                feats.append(_run(gen, Progress(False)))
                paths += [p for p, _ in ok]
            progress.update(PhaseProgress("embed", start + len(records), total))
    progress.close()
    for p, reason in skipped:
        print(f"dcgui: skipped {p}: {reason}", file=sys.stderr)
    if not paths:
        raise DcguiError(f"none of the {total} image files in {folder} could be decoded")
    features = np.concatenate(feats).astype(np.float32)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:  # a file handle: numpy would append ".npz" to a bare name
            np.savez(fh, features=features, paths=np.array(paths, dtype=str), epoch=np.int64(epoch),
                     arch=np.array(config.arch))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote features {features.shape[0]}x{features.shape[1]} (epoch {epoch}) to {out}"
          f"{f'; {len(skipped)} file(s) skipped' if skipped else ''}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from dcgui.core.export import export_backbone

    out = _check_output(args.out, args.session, "exported backbone")
    _check_output(f"{out}.json", args.session, "backbone's preprocessing file")
    with _open_session(args.session, readonly=False) as store:
        epoch = _pick_epoch(store, args.epoch, allow_zero=True)
        model, config = _load_model(store, epoch)
        meta = export_backbone(model, config, epoch, args.format, out)
        store.record_export(f"model-{args.format}", out, meta)
    print(f"wrote {args.format} backbone of epoch {epoch} ({meta['arch']}, {meta['feat_dim']}-d features, "
          f"input {meta['input_size']} px) to {out} and {out}.json", file=sys.stderr)
    return 0


# -------------------------------------------------------------------------------------------
# curate
# -------------------------------------------------------------------------------------------
def _parse_clusters(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return sorted({int(part) for part in text.replace(" ", "").split(",") if part})
    except ValueError:
        raise DcguiError(f"--clusters {text!r} is invalid: give cluster ids separated by commas, e.g. 3,17,42") from None


def cmd_curate(args: argparse.Namespace) -> int:
    from dcgui.core.curate import check_target, iter_apply, plan_curation
    from dcgui.store.paths import check_output

    mode = args.mode
    out_dir = check_output(args.out, args.session, "curate folder")
    with _open_session(args.session, readonly=args.dry_run) as store:
        epoch = _pick_epoch(store, args.epoch)
        folder = store.folder
        for warning in check_target(folder, out_dir, mode):
            _err(f"warning: {warning}")
        assign = store.assignments(epoch)
        clusters = _parse_clusters(args.clusters)
        if clusters is not None:
            bad = [c for c in clusters if not 0 <= c < len(store.cluster_sizes(epoch))]
            if bad:
                raise DcguiError(f"cluster {bad[0]} does not exist at epoch {epoch} (k={len(store.cluster_sizes(epoch))})")
        names = {c: d["name"] for c, d in store.cluster_user_data().items()}
        excluded = [i for i, f in store.image_flags().items() if f == "exclude"]
        # Every source is checked to lie inside the folder: a doctored session is refused whole.
        ops = plan_curation(store.image_files(), assign, out_dir, clusters=clusters, names=names,
                            excluded=excluded)
        targets = {dst.parent for _, dst in ops}
        for target in targets:
            check_output(target, store.path, "cluster folder")
        n_folders = len(targets)
        verb = {"copy": "copy", "symlink": "link", "move": "move"}[mode]
        if args.dry_run:
            for src, dst in ops:
                print(f"{verb} {src} -> {dst}")
            print(f"dry run: would {verb} {len(ops)} files into {n_folders} folders under {out_dir}"
                  f"{f' ({len(excluded)} excluded images left out)' if excluded else ''}", file=sys.stderr)
            return 0
        progress = Progress(args.progress)
        result = _run(iter_apply(ops, mode), progress)
        store.record_export("curate", out_dir, {
            "epoch": epoch, "mode": mode, "files": len(result.done), "folders": n_folders,
            "failed": len(result.failed), "excluded": len(excluded), "clusters": clusters,
        })
    renamed = sum(1 for (src, dst) in result.done if dst.name != src.name)
    print(f"{verb} {len(result.done)} files into {n_folders} folders under {out_dir}"
          f"{f'; {renamed} renamed to avoid replacing a file' if renamed else ''}", file=sys.stderr)
    for src, reason in result.failed:
        _err(f"failed: {src}: {reason}")
    if mode == "move" and result.done:
        _err(f"note: the moved files left {folder}; this session can be browsed but no longer resumed")
    return 1 if result.failed else 0


# -------------------------------------------------------------------------------------------
# gui
# -------------------------------------------------------------------------------------------
def _run_gui(rest: list[str], demo: bool = False, session: str | None = None) -> int:
    try:
        from dcgui.gui.app import run_gui
    except ImportError as exc:
        _err(f"error: the window cannot start ({exc}); install the GUI dependencies (PySide6, pyqtgraph) "
             "or use the sub-commands (dcgui --help)")
        return EXIT_USAGE
    return run_gui(rest, demo=demo, session=session)


def cmd_gui(args: argparse.Namespace) -> int:
    return _run_gui(list(args.qt_args), demo=args.demo, session=args.session)


# -------------------------------------------------------------------------------------------
# the parser
# -------------------------------------------------------------------------------------------
class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks; defaults are written into each help text."""


def _progress_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show progress bars on stderr (default: only on a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcgui",
        description="DeepCluster (Caron et al., ECCV 2018) on your own photos. Without a sub-command, "
        "opens the window.",
        epilog="Examples:\n"
        "  dcgui --demo                                   open the window on the demo collection\n"
        "  dcgui train ~/Photos --session photos.dcgui --epochs 20\n"
        "  dcgui info photos.dcgui\n"
        "  dcgui clusters photos.dcgui --csv clusters.csv\n"
        "  dcgui export photos.dcgui --format onnx --out backbone.onnx\n"
        "  dcgui curate photos.dcgui --out ~/Sorted --copy --dry-run\n"
        "Run `dcgui COMMAND --help` for each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dcgui {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the window on the bundled demo collection")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # train
    p = sub.add_parser(
        "train", formatter_class=_Formatter,
        help="train DeepCluster on a folder of photos (creates or resumes a session)",
        description="Train DeepCluster on the images under FOLDER (searched recursively; class "
        "sub-folders, if every image sits in one, are used as labels for NMI only). A new --session "
        "file is created with settings chosen from the collection size and the device; an existing "
        "one resumes from its last completed epoch and trains up to --epochs in total. Ctrl-C stops "
        "after the current batch and keeps the last completed epoch.",
    )
    p.add_argument("folder", metavar="FOLDER", help="folder of images (JPEG, PNG, WebP, BMP, TIFF, GIF)")
    p.add_argument("--session", required=True, metavar="PATH",
                   help="session file (NAME.dcgui; created if missing; data goes to NAME.dcgui.d/ beside it)")
    p.add_argument("--epochs", type=int, metavar="N", help=FIELD_HELP["epochs"] + " Total, counting epochs already trained. (default: 20 on a CPU, 100 on CUDA)")
    p.add_argument("--k", type=int, metavar="K", help=FIELD_HELP["k"] + " (default: from the collection size)")
    p.add_argument("--arch", choices=ARCHS, metavar="NAME", help=FIELD_HELP["arch"] + f" One of {', '.join(ARCHS)}. (default: smallnet on a CPU, resnet18 on CUDA)")
    p.add_argument("--image-size", type=int, metavar="PX", help=FIELD_HELP["image_size"] + " (default: 32 on a CPU, 128 on CUDA)")
    p.add_argument("--batch-size", type=int, metavar="B", help=FIELD_HELP["batch_size"] + " (default: 128 on a CPU, 256 on CUDA)")
    p.add_argument("--device", choices=DEVICES, help=FIELD_HELP["device"] + " (default: auto)")
    p.add_argument("--seed", type=int, metavar="S", help=FIELD_HELP["seed"] + f" (default: {TrainConfig().seed})")
    p.add_argument("--workers", type=int, metavar="W", help="Threads decoding images into the cache; 0 = one per CPU core. (default: 0)")
    p.add_argument("--threads", type=int, metavar="T", help=FIELD_HELP["threads"] + " (default: 0)")
    p.add_argument("--samples-per-epoch", type=int, metavar="S",
                   help=FIELD_HELP["samples_per_epoch"] + " (default: from the collection size)")
    p.add_argument("--head", choices=HEADS, help=FIELD_HELP["head"] + " (default: reset)")
    p.add_argument("--no-sobel", action="store_true", help="Use colour input instead of the paper's fixed Sobel front end.")
    p.add_argument("--no-projection", action="store_true", help=FIELD_HELP["projection"] + " This turns it off.")
    _progress_flags(p)
    p.set_defaults(func=cmd_train)

    # info
    p = sub.add_parser("info", formatter_class=_Formatter, help="show a session's settings, images and metrics",
                       description="Print a session's settings, image counts, skipped files with the reason, "
                       "and the metrics of every epoch (NMI between consecutive epochs and against labels, "
                       "loss, cluster sizes, time). Safe while the session is being trained.")
    p.add_argument("session", metavar="SESSION", help="session file (.dcgui)")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output (keys: config, images, skipped, epochs, ...)")
    p.set_defaults(func=cmd_info)

    # clusters
    p = sub.add_parser("clusters", formatter_class=_Formatter, help="write every image's cluster at an epoch as CSV",
                       description="Write one row per image, `path,cluster` (path relative to the session's "
                       "folder; cluster ids matched across epochs, as shown in the window).")
    p.add_argument("session", metavar="SESSION", help="session file (.dcgui)")
    p.add_argument("--epoch", type=int, metavar="E", help="epoch (default: the latest)")
    p.add_argument("--csv", required=True, metavar="OUT", help="CSV file to write ('-' for stdout)")
    p.set_defaults(func=cmd_clusters)

    # embed
    p = sub.add_parser("embed", formatter_class=_Formatter, help="compute features of a folder of images",
                       description="Compute the backbone features (the layer DeepCluster clusters) of every "
                       "image under FOLDER with the network of an epoch, in the same centre view the "
                       "training used. Writes an .npz with `features` (float32 N x D) and `paths` "
                       "(relative to FOLDER); undecodable files are reported on stderr.")
    p.add_argument("session", metavar="SESSION", help="session file (.dcgui)")
    p.add_argument("folder", metavar="FOLDER", help="folder of images (any folder, not only the session's)")
    p.add_argument("--out", required=True, metavar="OUT.npz", help="output file")
    p.add_argument("--epoch", type=int, metavar="E", help="epoch of the network (default: the latest; 0 = random initialisation)")
    p.add_argument("--device", choices=DEVICES, default="auto", help=FIELD_HELP["device"] + " (default: auto)")
    p.add_argument("--batch-size", type=int, default=128, metavar="B", help="images per forward pass (default: 128)")
    p.add_argument("--workers", type=int, default=0, metavar="W", help="decoding threads; 0 = one per core, at most 8 (default: 0)")
    _progress_flags(p)
    p.set_defaults(func=cmd_embed)

    # export
    p = sub.add_parser("export", formatter_class=_Formatter, help="export the trained backbone (state-dict, TorchScript, ONNX)",
                       description="Export the backbone of an epoch without its top layer: input float RGB "
                       "in [0, 1], NCHW, square of the training image size (the model normalises and "
                       "applies Sobel itself); output the features DeepCluster clusters. The "
                       "preprocessing (input size, mean/std, Sobel, arch, feature size, epoch) is stored "
                       "inside the file where the format allows and in PATH.json beside it. TorchScript "
                       "runs with torch alone, ONNX with onnxruntime alone; a state-dict loads with "
                       "dcgui.load_backbone(PATH).")
    p.add_argument("session", metavar="SESSION", help="session file (.dcgui)")
    p.add_argument("--format", required=True, choices=("state-dict", "torchscript", "onnx"), help="file format")
    p.add_argument("--out", required=True, metavar="PATH", help="file to write (replaced if it exists)")
    p.add_argument("--epoch", type=int, metavar="E", help="epoch (default: the latest; 0 = random initialisation)")
    p.set_defaults(func=cmd_export)

    # curate
    p = sub.add_parser("curate", formatter_class=_Formatter, help="sort the photos into one folder per cluster",
                       description="Put every image of the session into DIR/<cluster>/, one sub-folder per "
                       "cluster (named by your cluster name when set, else cluster_0042). Never replaces "
                       "or deletes a file: an existing name gets a _1, _2 ... suffix. Images flagged "
                       "'exclude' are left out. --move refuses a DIR inside the photo folder.")
    p.add_argument("session", metavar="SESSION", help="session file (.dcgui)")
    p.add_argument("--epoch", type=int, metavar="E", help="epoch whose clusters to use (default: the latest)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--copy", dest="mode", action="store_const", const="copy", help="copy the files (default)")
    g.add_argument("--symlink", dest="mode", action="store_const", const="symlink", help="make symbolic links to the files")
    g.add_argument("--move", dest="mode", action="store_const", const="move",
                   help="move the files (the session can then no longer resume)")
    p.add_argument("--clusters", metavar="IDS", help="only these clusters, e.g. 3,17,42 (default: all)")
    p.add_argument("--dry-run", action="store_true", help="print what would be done and change nothing")
    _progress_flags(p)
    p.set_defaults(func=cmd_curate, mode="copy")

    # gui
    p = sub.add_parser("gui", formatter_class=_Formatter, help="open the window (optionally on a session)",
                       description="Open the dcgui window, optionally on a session file or on the demo collection.")
    p.add_argument("session", metavar="SESSION", nargs="?", help="session file to open")
    p.add_argument("--demo", action="store_true", help="open the bundled demo collection")
    p.add_argument("qt_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_gui)

    # similar, duplicates, outliers, map, eval (the exploration commands)
    from dcgui import cli_explore

    cli_explore.register(sub)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dcgui`` command; returns the exit status."""
    from dcgui.qtargs import split_qt_options

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "gui":  # Qt's options with a value must not be read as the SESSION
        own, qt = split_qt_options(argv[1:])
        argv = ["gui", *own, *qt]
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        # No sub-command: the window. Qt's options (e.g. -style fusion) and unknown ones go to Qt.
        own, qt = split_qt_options(argv)
        gui = argparse.ArgumentParser(prog="dcgui", add_help=False)
        gui.add_argument("--demo", action="store_true")
        known, rest = gui.parse_known_args(own)
        if not set(rest) & _subcommands(parser):
            return _run_gui(qt + rest, demo=known.demo)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (DcguiError, ValueError) as exc:
        _err(f"error: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _err(f"error: {where}{exc.strerror or exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
