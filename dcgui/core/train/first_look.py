"""First looks: the untrained network's clusters of the images decoded so far (issue 22).

A new folder of big photos takes minutes to decode (``ImageCache.iter_build``), and epoch 1 can
only start once every image is in the cache. Meanwhile the cache build hands the images decoded
so far to :func:`first_look_hook`'s hook, which clusters them the way an epoch does, with the
network epoch 1 starts from: features (``iter_features``, eval mode, centre view) ->
PCA-whitening + L2 -> k-means, and yields one :class:`~dcgui.core.events.FirstLook`. k follows
the collection-size rule of the defaults (``suggest_k``) applied to the images decoded so far,
never above the session's k. Nothing is trained and nothing is stored (docs/ARCHITECTURE.md,
"First looks").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import torch

from dcgui.core.config import TrainConfig, suggest_k
from dcgui.core.control import RunControl, relay
from dcgui.core.device import resolve_device
from dcgui.core.events import PHASE_FEATURES, Event, FirstLook, PhaseProgress
from dcgui.core.images.cache import DecodedSoFar
from dcgui.core.train.clustering import kmeans, pca_whiten_l2
from dcgui.core.train.engine import (
    apply_thread_setting,
    epoch_seed,
    mixed_precision_dtype,
    use_channels_last,
)
from dcgui.core.train.features import iter_features
from dcgui.core.train.models import DeepClusterNet, build_model

FIRST_LOOK_EXAMPLES = 12  # thumbnails carried per cluster (nearest its centre first)
SEED_STREAM = 6  # epoch_seed stream of the first looks' k-means (epochs use 1-5)


def first_look_k(config: TrainConfig, n_decoded: int, n_classes: int | None = None) -> int:
    """k of a first look of ``n_decoded`` images: the defaults' rule for that many images, at most
    the session's k (a handful of images in 100 clusters would be mostly singletons)."""
    return max(2, min(config.k, suggest_k(n_decoded, n_classes), n_decoded))


def start_network(config: TrainConfig, init_state: dict[str, torch.Tensor] | None = None,
                  checkpoint_state: dict[str, torch.Tensor] | None = None) -> DeepClusterNet:
    """The network epoch 1 starts from, built as ``DeepCluster`` builds it: seeded by
    ``config.seed`` (the weights checkpoint 0 holds), with an ``--init`` backbone's weights
    (``init_state``) or checkpoint 0's model (``checkpoint_state``, when it was saved already)."""
    torch.manual_seed(config.seed)
    model = build_model(config)
    if checkpoint_state is not None:
        model.load_state_dict(checkpoint_state, strict=False)
    elif init_state is not None:
        from dcgui.core.train.backbone import load_into

        load_into(model, init_state, config.arch)
    return model


def first_look_hook(
    config: TrainConfig,
    network: Callable[[], DeepClusterNet],
    started: float,
    n_classes: int | None = None,
    control: RunControl | None = None,
) -> Callable[[DecodedSoFar], Generator[Event, None, None]]:
    """The hook of ``cache.FirstLooks``: cluster the images decoded so far, yield a ``FirstLook``.

    ``network()`` builds the untrained network (called once, at the first look, so a build that
    needs none never loads torch weights); ``started``: ``time.perf_counter()`` when preparing
    the collection began (the event's ``seconds`` count from there). Pause and stop of
    ``control`` are honoured between feature batches.
    """
    device = resolve_device(config.device)
    amp_dtype = mixed_precision_dtype(device) if config.amp else None
    channels_last = use_channels_last(config, device, amp_dtype)  # the layout epoch 1 will use
    held: dict[str, Any] = {}
    count = [0]

    def hook(so_far: DecodedSoFar) -> Generator[Event, None, None]:
        t0 = time.perf_counter()
        if "model" not in held:
            apply_thread_setting(config)  # as epoch 1 will
            model = network().to(device).eval()
            held["model"] = model.to(memory_format=torch.channels_last) if channels_last else model
        model = held["model"]
        n = len(so_far.positions)
        feats = yield from _quiet(iter_features(
            model, so_far.pixels, config.image_size, config.batch_size * 2, device,
            control=control, channels_last=channels_last, autocast_dtype=amp_dtype))
        x = pca_whiten_l2(feats, config.pca_dim, inplace=True)
        k = first_look_k(config, n, n_classes)
        count[0] += 1
        km = kmeans(x, k, niter=config.kmeans_iters, seed=epoch_seed(config.seed, count[0], SEED_STREAM),
                    device=device)
        assign = km.assign.astype(np.int32)
        examples = _examples(x, km.centroids, assign, k)
        thumbs = {int(so_far.positions[i]): so_far.thumbnail(int(so_far.positions[i]))
                  for rows in examples for i in rows}
        now = time.perf_counter()
        yield FirstLook(
            index=count[0], n_decoded=n, n_total=so_far.total, k=k, images=so_far.positions.copy(),
            relpaths=tuple(so_far.relpaths), assign=assign,
            examples=tuple(tuple(int(so_far.positions[i]) for i in rows) for rows in examples),
            thumbnails=thumbs, seconds=now - started, seconds_clustering=now - t0,
        )

    return hook


def _quiet(gen: Generator[Event, None, np.ndarray]) -> Generator[Event, None, np.ndarray]:
    """``gen``'s events without its progress (a look takes a second or two; the decoding's
    progress bar stays the one shown), its pauses and the like passed on."""
    return relay(gen, lambda ev: not (isinstance(ev, PhaseProgress) and ev.phase == PHASE_FEATURES))


def _examples(x: np.ndarray, centroids: np.ndarray, assign: np.ndarray, k: int) -> list[np.ndarray]:
    """Per cluster, the rows of up to ``FIRST_LOOK_EXAMPLES`` members nearest its centre."""
    d = ((x - centroids[assign]) ** 2).sum(axis=1)
    out = []
    for c in range(k):
        rows = np.flatnonzero(assign == c)
        out.append(rows[np.argsort(d[rows], kind="stable")[:FIRST_LOOK_EXAMPLES]])
    return out
