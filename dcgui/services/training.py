"""Training a session: creating it, checking a resume, and running the engine on it.

``create_session`` holds the rules of a new session (the command line and the New-session
dialog both go through it); ``check_resume`` those of continuing one. ``iter_prepare`` scans the
session's folder and brings the decoded cache up to date; ``iter_train`` then resumes the
DeepCluster loop from the last completed epoch and writes every finished epoch into the session
in one transaction. Both are generators of engine events, shared by the CLI and the GUI worker.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcgui.core.control import RunControl
from dcgui.core.errors import DcguiError
from dcgui.core.events import CheckpointWritten, CollectionReady, EpochFinished, Event, Message
from dcgui.core.images.cache import FirstLooks, ImageCache, LookTiming
from dcgui.core.images.collection import iter_scan
from dcgui.core.train.distributed import DistContext
from dcgui.core.train.engine import DeepCluster, ResumeState
from dcgui.services.session import closed_on_error
from dcgui.services.steering import steering_provider
from dcgui.store.lock import SessionBusyError

__all__ = ["SessionBusyError"]  # what the window tells apart: another process trains the session

if TYPE_CHECKING:
    from dcgui.core.config import TrainConfig
    from dcgui.core.images.collection import ImageRecord
    from dcgui.core.train.backbone import InitWeights
    from dcgui.store import SessionStore

# Settings that may change when a trained session resumes: they do not change what is learnt.
RESUMABLE_CHANGES = {"epochs", "device", "workers", "threads", "steer"}
# Set while a session's config is provisional (decided once the scan knows the image count).
CONFIG_PENDING = "config_pending"
# The settings the user gave when a provisional session was created: a run interrupted while
# scanning or decoding resumes with them.
CONFIG_OVERRIDES = "config_overrides"
# The backbone a session starts from (--init): where it came from and the settings it fixed.
INIT_META = "init_backbone"
# When the first looks of an untrained session are made while its images decode (issue 22);
# None: never. Read at each run (tests and benchmarks set it).
FIRST_LOOK_TIMING: LookTiming | None = LookTiming()


def check_folder(folder: Path) -> None:
    if not Path(folder).is_dir():
        raise DcguiError(f"the folder {folder} does not exist: give the folder that holds your photos")


def create_session(path: Path, folder: Path, config: TrainConfig, *, pending: bool = False,
                   overrides: dict[str, Any] | None = None,
                   images: Sequence[ImageRecord] | None = None, skipped: Sequence[tuple[str, str]] = (),
                   label_names: Sequence[str] = ()) -> SessionStore:
    """A new session file at ``path`` for the photos in ``folder`` (its parent folder is created).

    ``pending``: ``config`` is provisional and is decided after the first scan (the command
    line), from the collection and ``overrides``, the settings the user gave (stored with the
    new file, so an interrupted first scan resumes with them). ``images``: a scan already made
    (the New-session dialog) is recorded at once.
    """
    from dcgui.store import SessionStore

    check_folder(folder)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    meta = {CONFIG_PENDING: True, CONFIG_OVERRIDES: dict(overrides or {})} if pending else None
    store = SessionStore.create(path, folder, config, meta=meta)
    with closed_on_error(store):
        if images is not None:
            store.set_images(list(images), list(skipped), list(label_names))
    return store


def read_init(source: str, arch: str | None = None) -> InitWeights:
    """The backbone ``--init`` names (a file or "imagenet"), read and checked before a session is made."""
    from dcgui.core.train.backbone import read_init as _read

    return _read(source, arch)


def init_settings(init: InitWeights, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The settings the backbone fixes (arch, image_size, sobel, projection), checked against the
    user's explicit ones (an error names both)."""
    from dcgui.core.train.backbone import resolve_settings

    return resolve_settings(init, given, defaults)


def record_init(store: SessionStore, init: InitWeights) -> None:
    """Remember the backbone of a new session: the engine loads it as epoch 0."""
    store.set_meta(INIT_META, {"source": init.source, "kind": init.kind, "settings": init.settings})


def read_session_init(store: SessionStore) -> InitWeights:
    """The backbone a session was created from, read again (for a first run that had not saved
    epoch 0 yet)."""
    meta = store.get_meta(INIT_META) or {}
    source = str(meta.get("source", ""))
    return read_init(source, (meta.get("settings") or {}).get("arch"))


def config_pending(store: SessionStore) -> bool:
    return bool(store.get_meta(CONFIG_PENDING, False))


def settle_config(store: SessionStore, config: TrainConfig) -> None:
    """Replace a provisional config with the one chosen after the scan."""
    store.set_config(config)
    store.set_meta(CONFIG_PENDING, False)


def settle_pending_config(store: SessionStore, n_images: int, overrides: dict[str, Any] | None = None
                          ) -> TrainConfig:
    """Decide a provisional config now that the scan knows the image count: the defaults for
    ``n_images`` images (and the folder's labels) on the session's device, with the user's settings
    (``overrides``; default: those stored when the session was created) on top. The one rule for
    ``dcgui train`` and the window's trainer, so a session created by an interrupted ``dcgui train``
    trains with the same settings wherever it resumes."""
    config = pending_config(store, n_images, len(store.label_names()), overrides)
    settle_config(store, config)
    return config


def pending_config(store: SessionStore, n_images: int, n_labels: int, overrides: dict[str, Any] | None = None
                   ) -> TrainConfig:
    """The config ``settle_pending_config`` would decide for ``n_images`` images and ``n_labels``
    labels, without storing it."""
    from dcgui.core.config import default_config
    from dcgui.core.device import resolve_device

    if overrides is None:
        overrides = dict(store.get_meta(CONFIG_OVERRIDES) or {})
    device_type = resolve_device(overrides.get("device", store.config.device)).type
    return default_config(n_images, device_type, n_labels or None, **overrides)


def check_resume(store: SessionStore, folder: Path, overrides: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Check an existing session against the settings asked for; apply the allowed changes.

    Returns (pending, overrides). ``pending``: the session's config is still provisional, to be
    decided after the scan from the returned overrides (those given when it was created, updated
    by these). An invalid value raises ``ValueError`` before anything is written."""
    if Path(folder).resolve() != store.folder.resolve():
        raise DcguiError(
            f"{store.path} belongs to the folder {store.folder}, not {folder}: give that folder to resume, "
            "or a new --session file to train on this one"
        )
    config = store.config
    if config_pending(store):
        merged = {**(store.get_meta(CONFIG_OVERRIDES) or {}), **overrides}
        provisional = config.replace(**merged)  # validates before anything is written
        store.set_config(provisional)
        store.set_meta(CONFIG_OVERRIDES, merged)
        return True, merged
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


def is_untrained(store: SessionStore) -> bool:
    return store.last_epoch() == 0 and not store.checkpoints()


def discard_new_session(store: SessionStore) -> None:
    """Remove a session created moments ago before anything was trained (the image cache in
    its data folder is kept: a corrected command reuses it)."""
    from dcgui.store.lock import LOCK_NAME

    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(store.path) + suffix).unlink(missing_ok=True)
    (store.data_dir / LOCK_NAME).unlink(missing_ok=True)
    for d in (store.cache_dir, store.checkpoint_dir, store.data_dir):
        with contextlib.suppress(OSError):
            d.rmdir()  # only when empty


def iter_prepare(store: SessionStore, control: RunControl | None = None, first_looks: bool = True
                 ) -> Generator[Event, None, ImageCache]:
    """Scan the folder, decode new or changed images into the cache, and record the images.

    Once epochs exist, the set of usable images must not change (every stored assignment refers
    to image indices): ``store.set_images`` raises a clear error that suggests a new session.
    Takes the session's trainer lock first (``SessionBusyError`` when another process trains it).
    ``first_looks``: while an untrained session's images decode, yield ``FirstLook`` events (the
    untrained network's clusters of the images decoded so far; ``FIRST_LOOK_TIMING`` says when).
    """
    started = time.perf_counter()
    store.claim_trainer()
    scan = yield from iter_scan(store.folder, control)
    # A trained session refuses another image list: refuse before the cache is rebuilt for it,
    # so the refused run changes nothing and the trained epochs can still be explored.
    if store.last_epoch() > 0:
        failed = {p for p, _ in store.skipped()}  # files that did not decode before are not in the list
        store.check_image_list([r.relpath for r in scan.images if r.relpath not in failed])
    looks = None
    if first_looks and FIRST_LOOK_TIMING is not None and store.last_epoch() == 0 and scan.images:
        hook = _first_look_hook(store, len(scan.images), len(scan.label_names), started, control)
        looks = None if hook is None else FirstLooks(hook, FIRST_LOOK_TIMING)
    cache = yield from ImageCache.iter_build(
        store.cache_dir, store.folder, scan.images, store.config.cache_size,
        workers=store.config.workers, control=control, first_looks=looks,
    )
    skipped = list(scan.skipped) + list(cache.failed)
    # set_images refuses a changed image list once epochs exist (indices address assignments)
    store.set_images(cache.records, skipped, scan.label_names, sizes=cache.original_sizes)
    yield CollectionReady(len(cache.records), tuple(skipped), len(scan.label_names))
    return cache


def _first_look_hook(store: SessionStore, n_images: int, n_labels: int, started: float,
                     control: RunControl | None) -> Any:
    """The cache build's first-look hook for an untrained session: the settings epoch 1 will use
    (decided from the scan's count when still provisional; the cache size does not depend on it)
    and the network it will start from: checkpoint 0 when saved, else the ``--init`` backbone,
    else the seeded random initialisation."""
    from dcgui.core.train.first_look import first_look_hook, start_network

    try:
        config = pending_config(store, n_images, n_labels) if config_pending(store) else store.config
    except ValueError:  # settings that do not fit the collection: said once the images are decoded
        return None
    ckpt0, sha0 = store.checkpoint_path(0), store.checkpoint_sha256(0)
    has_init = bool(store.get_meta(INIT_META))

    def network() -> Any:  # called on the build's thread at the first look only
        from dcgui.core.train.checkpoint import load_checkpoint

        if ckpt0.exists():
            return start_network(config, checkpoint_state=load_checkpoint(ckpt0, sha256=sha0, epoch=0)["model"])
        return start_network(config, init_state=read_session_init(store).state if has_init else None)

    return first_look_hook(config, network, started, n_labels or None, control)


def _resume_state(store: SessionStore, with_assignments: bool) -> ResumeState | None:
    last = store.last_epoch()
    ckpt0 = store.checkpoint_path(0)
    if last > 0:
        prev = store.assignments(last, matched=True) if with_assignments else None
        return ResumeState(last, store.checkpoint_path(last), prev, store.checkpoint_sha256(last))
    if ckpt0.exists():  # epoch 0 recorded but nothing trained yet: keep that random initialisation
        return ResumeState(0, ckpt0, None, store.checkpoint_sha256(0))
    return None


def rewind(store: SessionStore, epoch: int) -> Path:
    """Make ``epoch`` the session's last epoch so training continues from it; return the archive
    that keeps the later epochs (see ``SessionStore.archive_epochs_after``).

    The checkpoint of ``epoch`` is verified first: nothing is set aside for an unusable start.
    """
    from dcgui.core.train.checkpoint import load_checkpoint

    last = store.last_epoch()
    if not 0 <= epoch < last:
        raise DcguiError(
            f"--from-epoch {epoch} is not an earlier epoch of {store.path.name}: it has epochs 1-{last}, so choose "
            f"0 to {last - 1} (0 = the random initialisation)" if last else
            f"{store.path.name} has no trained epoch yet: there is nothing to go back from"
        )
    load_checkpoint(store.checkpoint_path(epoch), sha256=store.checkpoint_sha256(epoch), epoch=epoch)
    if epoch > 0:
        store.assignments(epoch)  # its assignments seed the matching of the next epoch: readable?
    return store.archive_epochs_after(epoch)


def iter_train(
    store: SessionStore, control: RunControl | None = None, epochs: int | None = None,
    dist: DistContext | None = None, first_looks: bool = True,
) -> Generator[Event, None, None]:
    """Train the session up to ``epochs`` in total (default: its config), resuming where it ended.

    Under torchrun this runs on rank 0 (the only writer); the other ranks run
    ``iter_train_rank`` and wait at a barrier until the collection and config are ready.
    """
    control = control or RunControl()
    dist = dist or DistContext()
    cache = yield from iter_prepare(store, control, first_looks=first_looks and not dist.is_distributed)
    if config_pending(store):  # created by a `dcgui train` stopped before its settings were decided
        settle_pending_config(store, len(cache.records))
    config = store.config
    if epochs is not None and epochs != config.epochs:
        config = config.replace(epochs=epochs)
        store.set_config(config)
    config.validate(n_images=len(cache.records))

    resume = _resume_state(store, with_assignments=True)
    dist.barrier()  # the other ranks may now read the cache and the config
    labels = store.labels()
    init_state = None
    if resume is None and store.get_meta(INIT_META):
        init_state = read_session_init(store).state  # epoch 0 = that backbone
    engine = DeepCluster(config, cache.pixels, labels, store.checkpoint_dir, control, resume, dist,
                         steering=steering_provider(store), init_state=init_state)
    for event in engine.run(config.epochs):
        if isinstance(event, CheckpointWritten) and event.epoch == 0:
            store.record_checkpoint(0, event.path, event.sha256)
        elif isinstance(event, EpochFinished):
            store.record_epoch(event)
        yield event


def iter_train_file(
    session: Path, control: RunControl | None = None, epochs: int | None = None, from_epoch: int | None = None,
    who: str = "the dcgui window", default_threads: int = 1,
) -> Generator[Event, None, None]:
    """Train the session file ``session`` on this thread (the window's worker): open it here
    (SQLite connections are per thread), take its trainer lock (``SessionBusyError`` at once when
    another process trains it), set ``from_epoch``'s later epochs aside first (``rewind``), then
    ``iter_train``; the file is closed however the run ends."""
    import torch

    from dcgui.services.session import open_session

    with open_session(session, readonly=False) as store:
        store.claim_trainer(who)
        # The session's own setting wins; the engine applies it when it is built.
        torch.set_num_threads(store.config.threads or default_threads)
        if from_epoch is not None:  # under the trainer lock: nobody else writes meanwhile
            last = store.last_epoch()
            archive = rewind(store, from_epoch)
            yield Message(f"Continuing from epoch {from_epoch}; epochs {from_epoch + 1}-{last} are kept in "
                          f"{archive.name} (in {archive.parent}; open it to look at them).")
        yield from iter_train(store, control, epochs)


def iter_train_rank(
    session: Path, dist: DistContext, control: RunControl | None = None
) -> Generator[Event, None, None]:
    """A non-zero rank of a distributed run: same engine, reads the session, writes nothing."""
    from dcgui.store import SessionStore

    dist.barrier()  # rank 0 has scanned, decoded and configured
    with SessionStore.open(session, readonly=True) as store:
        config = store.config
        resume = _resume_state(store, with_assignments=True)
        cache = ImageCache.open(store.cache_dir, config.cache_size)
        checkpoint_dir = store.checkpoint_dir
        init_state = read_session_init(store).state if resume is None and store.get_meta(INIT_META) else None
    engine = DeepCluster(config, cache.pixels, None, checkpoint_dir, control, resume, dist, init_state=init_state)
    yield from engine.run(config.epochs)
