"""``dcgui embed SESSION FOLDER --out F.npz``: features of any folder of images."""

from __future__ import annotations

import argparse
import io
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcgui.cli.common import (
    Progress,
    add_session_parser,
    device_help,
    drive,
    epoch_flag,
    err,
    progress_flags,
    say,
)
from dcgui.core.config import DEVICES
from dcgui.core.control import RunControl
from dcgui.core.errors import DcguiError
from dcgui.core.events import PHASE_EMBED, PhaseProgress
from dcgui.services.outputs import output_file

if TYPE_CHECKING:
    import numpy as np


def register(sub: Any) -> None:
    p = add_session_parser(sub, "embed", help="compute features of a folder of images",
                   description="Compute the backbone features (the layer DeepCluster clusters) of every "
                   "image under FOLDER with the network of an epoch, in the same centre view the "
                   "training used. Writes an .npz with `features` (float32 N x D) and `paths` "
                   "(relative to FOLDER); undecodable files are reported on stderr.", run=run)
    p.add_argument("folder", metavar="FOLDER", help="folder of images (any folder, not only the session's)")
    p.add_argument("--out", required=True, metavar="OUT.npz", help="output file")
    epoch_flag(p, "epoch of the network (default: the latest; 0 = random initialisation)")
    p.add_argument("--device", choices=DEVICES, default="auto", help=device_help())
    p.add_argument("--batch-size", type=int, default=128, metavar="B", help="images per forward pass (default: 128)")
    p.add_argument("--workers", type=int, default=0, metavar="W", help="decoding threads; 0 = one per core, at most 8 (default: 0)")
    progress_flags(p)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from dcgui.core.fsutil import output_writer
    from dcgui.core.images.cache import decode_square
    from dcgui.core.images.collection import iter_scan
    from dcgui.core.images.imageio import ImageDecodeError
    from dcgui.core.train.features import iter_features
    from dcgui.services.session import choose_epoch, load_network, open_session

    out = output_file(args.out, args.session, "features file")
    with open_session(args.session) as store:
        epoch = choose_epoch(store, args.epoch, "network")
        model, config, device = load_network(store, epoch, args.device)
    folder = Path(args.folder).expanduser().absolute()
    progress = Progress(args.progress)
    scan = drive(iter_scan(folder), progress)
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
                feats.append(drive(gen, Progress(False)))
                paths += [p for p, _ in ok]
            progress.update(PhaseProgress(PHASE_EMBED, start + len(records), total))
    progress.close()
    for p, reason in skipped:
        err(f"skipped {p}: {reason}")
    if not paths:
        raise DcguiError(f"none of the {total} image files in {folder} could be decoded")
    features = np.concatenate(feats).astype(np.float32)
    buf = io.BytesIO()  # a file handle: numpy would append ".npz" to a bare name
    np.savez(buf, features=features, paths=np.array(paths, dtype=str), epoch=np.int64(epoch),
             arch=np.array(config.arch))
    with output_writer(out, size=buf.tell()) as fh:  # a regular file atomically; "-", a pipe: into it
        fh.write(buf.getvalue())
    say(f"wrote features {features.shape[0]}x{features.shape[1]} (epoch {epoch}) to {out}"
          f"{f'; {len(skipped)} file(s) skipped' if skipped else ''}", file=sys.stderr)
    return 0
