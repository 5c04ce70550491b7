"""``dcgui export SESSION --format F --out PATH``: the trained backbone as a file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dcgui.cli.common import add_session_parser, epoch_flag, err, say


def register(sub: Any) -> None:
    p = add_session_parser(sub, "export", help="export the trained backbone (state-dict, TorchScript, ONNX)",
                   description="Export the backbone of an epoch without its top layer: input float RGB "
                   "in [0, 1], NCHW, square of the training image size (the model normalises and "
                   "applies Sobel itself); output the features DeepCluster clusters. The "
                   "preprocessing (input size, mean/std, Sobel, arch, feature size, epoch) is stored "
                   "inside the file where the format allows and in PATH.json beside it. TorchScript "
                   "runs with torch alone, ONNX with onnxruntime alone; a state-dict loads with "
                   "dcgui.load_backbone(PATH).", run=run)
    p.add_argument("--format", required=True, choices=("state-dict", "torchscript", "onnx"), help="file format")
    p.add_argument("--out", required=True, metavar="PATH", help="file to write (replaced if it exists)")
    epoch_flag(p, "epoch (default: the latest; 0 = random initialisation)")


def run(args: argparse.Namespace) -> int:
    from dcgui.core.fsutil import is_stream_output
    from dcgui.services.export import backbone_outputs, export_backbone
    from dcgui.services.session import choose_epoch, open_to_record

    out = backbone_outputs(args.out, args.session)  # "-", a device or a FIFO: no .json beside it
    stream = is_stream_output(out)
    with open_to_record(args.session) as store:
        epoch = choose_epoch(store, args.epoch, "network")
        meta, recorded = export_backbone(store, epoch, args.format, out)
        if not recorded:
            err(f"note: {store.path} cannot be written, so this export is not listed in it")
    where = (f"to {'standard output' if str(out) == '-' else out} (no {out}.json beside it: the "
             "preprocessing is inside the file)" if stream else f"to {out} and {out}.json")
    say(f"wrote {args.format} backbone of epoch {epoch} ({meta['arch']}, {meta['feat_dim']}-d features, "
        f"input {meta['input_size']} px) {where}", file=sys.stderr)
    return 0
