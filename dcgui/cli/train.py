"""``dcgui train FOLDER --session S.dcgui``: create or resume a session and train it."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcgui.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Progress,
    add_parser,
    device_help,
    drive,
    err,
    fmt,
    progress_flags,
    say,
    sigint_stops,
)
from dcgui.core.config import ARCHS, DEVICES, FIELD_HELP, HEADS, TrainConfig
from dcgui.core.control import RunControl, StopRequested
from dcgui.core.errors import USER_ERRORS, DcguiError, DiskFullError
from dcgui.core.events import (
    CollectionReady,
    EpochFinished,
    Finished,
    FirstLook,
    Message,
    Paused,
    PhaseProgress,
    Resumed,
    Stopped,
    first_look_summary,
    steering_summary,
)

if TYPE_CHECKING:
    from dcgui.core.train.distributed import DistContext
    from dcgui.store import SessionStore


def register(sub: Any) -> None:
    p = add_parser(
        sub, "train",
        help="train DeepCluster on a folder of photos (creates or resumes a session)",
        description="Train DeepCluster on the images under FOLDER (searched recursively; class "
        "sub-folders, if every image sits in one, are used as labels for NMI only). A new --session "
        "file is created with settings chosen from the collection size and the device; an existing "
        "one resumes from its last completed epoch and trains up to --epochs in total. Ctrl-C stops "
        "after the current batch and keeps the last completed epoch.",
        run=run,
    )
    p.add_argument("folder", metavar="FOLDER", help="folder of images (JPEG, PNG, HEIC, AVIF, camera RAW, WebP, BMP, TIFF, GIF)")
    p.add_argument("--session", required=True, metavar="PATH",
                   help="session file (NAME.dcgui; created if missing; data goes to NAME.dcgui.d/ beside it)")
    p.add_argument("--epochs", type=int, metavar="N", help=FIELD_HELP["epochs"] + " Total, counting epochs already trained. (default: 10 on a CPU, 100 on CUDA)")
    p.add_argument("--k", type=int, metavar="K", help=FIELD_HELP["k"] + " (default: from the collection size)")
    p.add_argument("--arch", choices=ARCHS, metavar="NAME", help=FIELD_HELP["arch"] + f" One of {', '.join(ARCHS)}. (default: smallnet on a CPU, resnet18 on CUDA)")
    p.add_argument("--image-size", type=int, metavar="PX", help=FIELD_HELP["image_size"] + " (default: 32 on a CPU, 128 on CUDA)")
    p.add_argument("--batch-size", type=int, metavar="B", help=FIELD_HELP["batch_size"] + " (default: 128 on a CPU, 256 on CUDA)")
    p.add_argument("--device", choices=DEVICES, help=device_help())
    p.add_argument("--seed", type=int, metavar="S", help=FIELD_HELP["seed"] + f" (default: {TrainConfig().seed})")
    p.add_argument("--workers", type=int, metavar="W", help="Threads decoding images into the cache; 0 = one per CPU core. (default: 0)")
    p.add_argument("--threads", type=int, metavar="T", help=FIELD_HELP["threads"] + " (default: 0)")
    p.add_argument("--samples-per-epoch", type=int, metavar="S",
                   help=FIELD_HELP["samples_per_epoch"] + " (default: from the collection size)")
    p.add_argument("--head", choices=HEADS, help=FIELD_HELP["head"] + " (default: reset)")
    p.add_argument("--lr", type=float, metavar="LR", help=FIELD_HELP["lr"] + f" (default: {TrainConfig().lr})")
    p.add_argument("--crop-scale-min", type=float, metavar="F",
                   help=FIELD_HELP["crop_scale_min"] + f" (default: {TrainConfig().crop_scale_min})")
    p.add_argument("--no-sobel", action="store_true", help="Use colour input instead of the paper's fixed Sobel front end.")
    p.add_argument("--no-projection", action="store_true", help=FIELD_HELP["projection"] + " This turns it off.")
    p.add_argument("--steer", action=argparse.BooleanOptionalAction, default=None,
                   help=FIELD_HELP["steer"] + " (default: on; --no-steer turns it off, also on an existing session)")
    p.add_argument("--init", metavar="PATH",
                   help="start a new session from a backbone instead of the random initialisation (epoch 0 = "
                   "that backbone): a state dict written by `dcgui export --format state-dict`, a torchvision "
                   "ResNet state dict, or 'imagenet' (torchvision's ImageNet weights of --arch resnet18 or "
                   "resnet50, fetched once; colour input, at least 64 px). Its architecture, input size and "
                   "Sobel setting override the defaults. Only when the session is created. TorchScript files "
                   "are refused (loading them runs code)")
    p.add_argument("--from-epoch", type=int, metavar="E",
                   help="continue from epoch E of an existing session instead of its last one (e.g. when a "
                   "later checkpoint is damaged); the later epochs are set aside, whole, in an archive "
                   "session under NAME.dcgui.d/archive/ that dcgui info/clusters and the window can open. "
                   "0 = from the random initialisation")
    progress_flags(p)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "epochs": args.epochs, "k": args.k, "arch": args.arch, "image_size": args.image_size,
        "batch_size": args.batch_size, "device": args.device, "seed": args.seed, "workers": args.workers,
        "threads": args.threads, "samples_per_epoch": args.samples_per_epoch,
        "head": args.head, "lr": args.lr, "crop_scale_min": args.crop_scale_min, "sobel": False if args.no_sobel else None,
        "projection": False if args.no_projection else None, "steer": args.steer,
    }
    return {k: v for k, v in given.items() if v is not None}


def _nothing_to_train(store: SessionStore, folder: Path, overrides: dict[str, Any], args: argparse.Namespace) -> bool:
    """A re-run of a session that already reached its target says so at once: before torch is
    imported (seconds) and before the folder is scanned. Any other setting, a rewind or a
    distributed launch takes the full path (which checks them)."""
    if set(overrides) - {"epochs"} or args.from_epoch is not None or os.environ.get("WORLD_SIZE", "1") != "1":
        return False
    if store.get_meta("config_pending", False):  # services.training.CONFIG_PENDING: settled after a scan
        return False
    if Path(folder).resolve() != store.folder.resolve():
        return False  # check_resume explains the mismatch
    target = overrides.get("epochs", store.config.epochs)
    done = store.last_epoch()
    if done < target:
        return False
    say(f"{store.path} already has {done} trained epochs (target {target}); train more with --epochs {done + 10}")
    return True


def _device_type(name: str) -> str:
    from dcgui.core.device import resolve_device

    return resolve_device(name).type


def _config_epochs(store: SessionStore) -> int:
    try:
        return store.config.epochs
    except Exception:  # the store may be closed or unreadable by now: the command stays valid
        return 20


def _resume_command(folder: Path, session: Path, epochs: int) -> str:
    return shlex.join(["dcgui", "train", str(folder), "--session", str(session), "--epochs", str(epochs)])


def _env_rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0  # DistContext.from_env explains the bad value


def run(args: argparse.Namespace) -> int:
    from dcgui.services.session import announced, claim_or_close
    from dcgui.store import SessionStore

    folder = Path(args.folder).expanduser().absolute()
    session = Path(args.session).expanduser().absolute()
    overrides = _overrides(args)
    control = RunControl()
    store: SessionStore | None = None
    if _env_rank() == 0 and session.exists():
        # One trainer per session, checked before torch loads: a second one is refused at once,
        # naming the other process.
        store = announced(claim_or_close(SessionStore.open(session)))
    if store is not None and _nothing_to_train(store, folder, overrides, args):
        store.close()
        return 0
    try:
        from dcgui.core.config import default_config
        from dcgui.core.train.distributed import DistContext
        from dcgui.services import training

        pending = created = False
        if store is not None and args.init is not None:
            raise DcguiError(f"--init {args.init}: {session} exists already, and a backbone can only be the start "
                             "of a new session; give a new --session file to start from it")
        if store is not None:  # nothing is written before the settings are checked
            pending, overrides = training.check_resume(store, folder, overrides)
        # Under torchrun: rank 0 owns the session (create, scan, decode, write); the other ranks
        # wait for it at a barrier, then train their share of every epoch with DDP.
        dist = DistContext.from_env(overrides.get("device", "auto"))
    except BaseException:
        if store is not None:
            store.close()
        raise
    if dist.is_distributed and not dist.is_main:
        with dist, sigint_stops(control, Progress(False)):
            for ev in training.iter_train_rank(session, dist, control):
                if isinstance(ev, Stopped):
                    return EXIT_INTERRUPTED
        return 0
    progress = Progress(args.progress)

    if store is None:
        if args.from_epoch is not None:
            raise DcguiError(f"--from-epoch needs an existing session, and {session} does not exist yet")
        training.check_folder(folder)  # before choosing a device: a typo fails at once
        device_type = _device_type(overrides.get("device", "auto"))
        init = None
        if args.init is not None:  # read and checked before anything is written
            init = training.read_init(args.init, args.arch)
            defaults = default_config(1_000_000, device_type, None, **overrides).to_dict()
            fixed = training.init_settings(init, overrides, defaults)
            overrides = {**overrides, **fixed}
            progress.write(f"starting from the {init.describe()}: "
                           + ", ".join(f"{k}={v}" for k, v in fixed.items())
                           + " come from it (over the collection's defaults)", sys.stderr)
        # The cache size depends on image_size only, so a provisional config (k decided later,
        # once the number of usable images is known) is enough to prepare the collection. It is
        # validated here, before anything is written; the user's settings are stored with it.
        provisional = default_config(1_000_000, device_type, None, **overrides)
        store = claim_or_close(
            training.create_session(session, folder, provisional, pending=True, overrides=overrides))
        pending = created = True
        if init is not None:
            training.record_init(store, init)
        progress.write(f"created session {session}", sys.stderr)

    with dist, store, sigint_stops(control, progress):
        try:
            if pending:
                cache = drive(training.iter_prepare(store, control), progress)
                config = training.settle_pending_config(store, len(cache.records), overrides)
                progress.write(
                    f"{len(cache.records)} images ({len(store.skipped())} skipped); "
                    f"arch={config.arch} k={config.k} image_size={config.image_size} epochs={config.epochs}",
                    sys.stderr,
                )
            if args.from_epoch is not None:
                last = store.last_epoch()
                archive = training.rewind(store, args.from_epoch)
                progress.write(f"continuing from epoch {args.from_epoch}; epochs {args.from_epoch + 1}-{last} are "
                               f"kept in {archive} (see them with `dcgui info {archive}`)", sys.stderr)
            config = store.config
            target = config.epochs if args.epochs is None else args.epochs
            done = store.last_epoch()
            if done >= target and not dist.is_distributed:  # other ranks wait for the engine
                say(f"{session} already has {done} trained epochs (target {target}); "
                      f"train more with --epochs {done + 10}")
                return 0
            return _train_loop(store, control, progress, folder, session, target, dist)
        except DiskFullError as exc:
            progress.close()
            if created and training.is_untrained(store):
                training.discard_new_session(store)
            err(f"error: {exc}")
            err(f"epoch {0 if created else store.last_epoch()} is saved. Once there is space, resume with:\n  "
                f"{_resume_command(folder, session, args.epochs or _config_epochs(store))}")
            return EXIT_USAGE
        except USER_ERRORS:
            if created and training.is_untrained(store):
                training.discard_new_session(store)  # made seconds ago by this command: leave no half session
            raise
        except StopRequested:  # stopped while scanning or decoding, before any epoch ran
            progress.close()
            err(f"stopped; epoch {store.last_epoch()} is saved. Resume with:\n  "
                f"{_resume_command(folder, session, args.epochs or store.config.epochs)}")
            return EXIT_INTERRUPTED
        except KeyboardInterrupt:
            progress.close()
            err(f"aborted; epoch {store.last_epoch()} is saved. Resume with:\n  "
                f"{_resume_command(folder, session, args.epochs or store.config.epochs)}")
            return EXIT_INTERRUPTED


def _train_loop(store: SessionStore, control: RunControl, progress: Progress, folder: Path, session: Path,
                target: int, dist: DistContext | None = None) -> int:
    from dcgui.core.train.estimate import PhaseTimes, RunEta, format_duration
    from dcgui.services import training

    k = store.config.k
    eta: RunEta | None = None  # from the first epoch on: the run's own per-phase rates

    def eta_text() -> str:
        left = eta.remaining() if eta is not None else None
        return f"ETA {format_duration(left)}" if left is not None else ""

    for ev in training.iter_train(store, control, epochs=target, dist=dist):
        if isinstance(ev, PhaseProgress):
            if eta is not None:
                eta.progress(ev.phase, ev.done / ev.total if ev.total else 0.0)
            progress.update(ev, target, eta_text())
        elif isinstance(ev, EpochFinished):
            m = ev.metrics
            if eta is not None:
                eta.epoch_finished(PhaseTimes(m.seconds_features, m.seconds_clustering, m.seconds_training))
            progress.close()
            left = f"  {eta_text()}" if m.epoch < target else ""
            progress.write(
                f"epoch {m.epoch}/{target}  loss {fmt(m.loss)}  NMI(t-1,t) {fmt(m.nmi_prev)} AMI {fmt(m.ami_prev)}  "
                f"NMI(labels) {fmt(m.nmi_labels)} AMI {fmt(m.ami_labels)}{' (clustered images)' if m.excluded else ''}  "
                f"empty {m.empty_clusters}/{k}  sizes {m.min_cluster}-{m.max_cluster}  {m.seconds:.1f} s{left}"
                + (f"\n  steering: {steering_summary(m)}" if m.excluded or m.constraints else "")
            )
        elif isinstance(ev, Message):
            progress.write(f"{ev.level}: {ev.text}", sys.stderr)
        elif isinstance(ev, FirstLook):
            progress.write(first_look_summary(ev))
        elif isinstance(ev, CollectionReady):
            eta = RunEta(target, store.last_epoch(), PhaseTimes.from_epochs(store.epochs()))
            if ev.skipped:
                progress.write(f"{len(ev.skipped)} file(s) skipped (see `dcgui info {session}`)", sys.stderr)
        elif isinstance(ev, Paused | Resumed):
            progress.write(f"{type(ev).__name__.lower()} at epoch {ev.epoch}", sys.stderr)
        elif isinstance(ev, Stopped):
            progress.close()
            err(f"stopped; epoch {ev.last_completed_epoch} is saved. Resume with:\n  "
                f"{_resume_command(folder, session, target)}")
            return EXIT_INTERRUPTED
        elif isinstance(ev, Finished):
            progress.close()
            progress.write(f"done: {ev.last_completed_epoch} epochs in {session}")
    return 0
