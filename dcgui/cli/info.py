"""``dcgui info SESSION [--json]``: a session's settings, images and per-epoch metrics."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from dcgui.cli.common import add_session_parser, drive, fmt, json_safe, say

if TYPE_CHECKING:
    from dcgui.core.events import EpochMetrics
    from dcgui.store import SessionStore


def register(sub: Any) -> None:
    p = add_session_parser(sub, "info", help="show a session's settings, images and metrics",
                   description="Print a session's settings, image counts, skipped files with the reason, "
                   "and the metrics of every epoch (NMI and AMI between consecutive epochs and against labels, "
                   "loss, cluster sizes, time). AMI of epochs trained by an older dcgui is computed from "
                   "the stored clusters (not written to the file). Safe while the session is being trained.", run=run)
    p.add_argument("--json", action="store_true",
                   help="machine-readable output (keys: config, images, skipped, epochs, ...)")


def info_dict(store: SessionStore, metrics: list[EpochMetrics] | None = None) -> dict[str, Any]:
    """``metrics``: the epochs with AMI complete (``services.metrics.complete_metrics``); the
    stored rows when None."""
    epochs = [m.to_dict() for m in (store.epochs() if metrics is None else metrics)]
    return json_safe({
        "session": str(store.path),
        "folder": str(store.folder),
        "recorded_folder": str(store.recorded_folder),
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
        "merges_splits": _groups(store),
        "edits": sum(1 for r in store.edit_log() if not r.undone),
        "exports": store.exports(),
    })


def _groups(store: SessionStore) -> list[dict[str, Any]]:
    splits, merges = store.cluster_groups()
    out: list[dict[str, Any]] = [
        {"kind": "split", "id": s.id, "epoch": s.epoch, "cluster": s.cluster, "parts": s.parts, "names": list(s.names)}
        for s in splits]
    out += [{"kind": "merge", "key": f"g{m.id}", "epoch": m.epoch, "name": m.name,
             "units": [u.to_json() for u in m.units]} for m in merges]
    return out


def run(args: argparse.Namespace) -> int:
    from dcgui.services.metrics import complete_metrics
    from dcgui.services.session import open_session

    with open_session(args.session) as store:
        info = info_dict(store, drive(complete_metrics(store)))
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    v = info["versions"]
    out = [
        f"session   {info['session']}  (created {info['created']}, dcgui {v['dcgui']}, torch {v['torch']}, schema {v['schema']})",
        f"folder    {info['folder']}" + (f"  (recorded: {info['recorded_folder']})"
                                           if info["recorded_folder"] != info["folder"] else ""),
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
        out.append(f"  {'epoch':>5} {'loss':>8} {'NMI t-1':>8} {'AMI t-1':>8} {'NMI lab':>8} {'AMI lab':>8} {'ARI lab':>8} "
                   f"{'empty':>6} {'min':>6} {'max':>6} {'entropy':>8} {'seconds':>8} {'excl':>5} {'merge':>5} "
                   f"{'split':>5}")
        for m in info["epochs"]:
            out.append(
                f"  {m['epoch']:>5} {fmt(m['loss']):>8} {fmt(m['nmi_prev']):>8} {fmt(m['ami_prev']):>8} "
                f"{fmt(m['nmi_labels']):>8} {fmt(m['ami_labels']):>8} "
                f"{fmt(m['ari_labels']):>8} {m['empty_clusters']:>6} {m['min_cluster']:>6} {m['max_cluster']:>6} "
                f"{fmt(m['size_entropy']):>8} {fmt(m['seconds'], 1):>8} {m.get('excluded', 0):>5} "
                f"{m.get('merges_applied', 0):>5} {m.get('splits_applied', 0):>5}"
            )
        if any(m.get("excluded") for m in info["epochs"]):
            out.append("  (excl: images left out of that epoch's clustering; NMI/AMI/ARI against labels are over the "
                       "clustered images. merge/split: groups applied as constraints)")
    else:
        out.append("epochs:   none trained yet")
    ck = info["checkpoints"]
    if ck:
        out.append(f"checkpoints: {len(ck)} (epochs {ck[0]['epoch']}-{ck[-1]['epoch']})")
    named = {c: d for c, d in info["clusters"].items() if d["name"]}
    if named:
        out.append("named clusters: " + ", ".join(f"{c}={d['name']}" for c, d in named.items()))
    for g in info["merges_splits"]:
        if g["kind"] == "split":
            out.append(f"split     cluster {g['cluster']} into {g['parts']} parts from epoch {g['epoch']}")
        else:
            out.append(f"merge     {g['key']}{' ' + repr(g['name']) if g['name'] else ''} from epoch {g['epoch']}")
    if info["edits"]:
        out.append(f"edits     {info['edits']} (dcgui edits lists them; dcgui undo takes the last back)")
    for e in info["exports"]:
        out.append(f"export    {e['time']} {e['kind']} -> {e['path']}")
    say("\n".join(out))
    return 0
