"""The DeepCluster loop (Caron et al., ECCV 2018) as a generator of typed events.

One epoch: features of every image (eval mode, unshuffled, centre view) -> PCA-whitening + L2 ->
k-means (new seed every epoch) -> pseudo-labels -> a new top layer -> one pass of SGD over images
sampled uniformly across the non-empty clusters -> checkpoint. See METHOD.md for each value.

The generator checks a ``RunControl`` between batches: ``stop()`` ends the run after the current
batch with the last completed epoch saved, ``pause()`` parks the thread until ``resume()``.
Every random draw of epoch ``e`` comes from generators seeded by ``(seed, e)``, so a run resumed
from checkpoint ``e`` continues exactly as an uninterrupted one (on the CPU).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dcgui.core.analysis.ami import ami
from dcgui.core.analysis.matching import match_clusters
from dcgui.core.analysis.metrics import ari, cluster_size_stats, nmi
from dcgui.core.config import TrainConfig
from dcgui.core.control import RunControl, StopRequested, iter_pause_point
from dcgui.core.device import is_oom, oom_error, resolve_device
from dcgui.core.errors import DcguiError
from dcgui.core.events import (
    PHASE_CLUSTERING,
    PHASE_TRAINING,
    CheckpointWritten,
    EpochFinished,
    EpochMetrics,
    Event,
    Finished,
    Message,
    PhaseProgress,
    Stopped,
)
from dcgui.core.train import checkpoint as ckpt
from dcgui.core.train.augment import random_resized_crop_flip
from dcgui.core.train.clustering import (
    KMeansResult,
    all_finite,
    kmeans,
    nearest_centroid,
    pca_whiten_l2,
)
from dcgui.core.train.distributed import (
    DistContext,
    all_reduce_sum,
    any_rank,
    broadcast_array,
    gather_features,
    shard_range,
    sharded_pca_whiten_l2,
    split_for_rank,
    wrap_for_training,
)
from dcgui.core.train.features import iter_features
from dcgui.core.train.models import DeepClusterNet, build_model
from dcgui.core.train.prefetch import Prefetcher
from dcgui.core.train.sampler import uniform_cluster_sample
from dcgui.core.train.steering import Steering, collapse_sets, constrained_assign
from dcgui.core.train.threads import ThreadTuner

PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress events per second
PROTOTYPE_CHUNK_ROWS = 65_536  # rows per step when summing the centroid head's prototypes
# How merges and splits reach the k-means (docs/METHOD.md "Steering", measured in docs/QUALITY.md):
# "assign": plain k-means, then each set goes whole to one centroid; "collapse": k-means on the
# sets collapsed to weighted means, then the same assignment.
STEER_MECHANISMS = ("assign", "collapse")
STEER_MECHANISM = "assign"
# What the training sample is uniform over: "kmeans" (k-means' clusters before the constraints,
# as an unsteered run) or "labels" (the constrained pseudo-labels: a merged group of several
# clusters is then drawn as often as one cluster). Measured in docs/QUALITY.md.
STEER_SAMPLINGS = ("kmeans", "labels")
STEER_SAMPLING = "kmeans"


@dataclass(frozen=True)
class ResumeState:
    """Where a run continues: the last completed epoch, its checkpoint, its matched assignments,
    and the checkpoint's recorded sha256 ("" when none was recorded)."""

    epoch: int
    checkpoint: Path
    prev_matched: np.ndarray | None = None
    sha256: str = ""


def mixed_precision_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype worth using on ``device``, or None where it would not pay off."""
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and torch.backends.mkldnn.is_available():
        try:
            if torch.ops.mkldnn._is_mkldnn_bf16_supported():
                return torch.bfloat16
        except (AttributeError, RuntimeError):  # older torch without the query
            return None
    return None


def apply_thread_setting(config: TrainConfig) -> None:
    """A fixed CPU thread count from ``config`` (process-wide: torch has one intra-op pool);
    ``threads=0`` leaves the count to the caller (``ThreadTuner`` in training)."""
    if config.threads > 0:
        torch.set_num_threads(config.threads)


def use_channels_last(config: TrainConfig, device: torch.device, amp_dtype: torch.dtype | None) -> bool:
    """Channels-last memory layout where it pays: CUDA, mixed precision, and float32 on a CPU too
    (oneDNN: smallnet trains 1.20x faster, ResNet-18 1.05x, on an AVX2 CPU without bfloat16,
    docs/QUALITY.md); not on MPS in float32."""
    return config.channels_last and (device.type in ("cuda", "cpu") or amp_dtype is not None)


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A distinct, reproducible 31-bit seed per (run seed, epoch, purpose)."""
    ss = np.random.SeedSequence([seed, epoch, stream])
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


class CentroidHead(nn.Module):
    """DeepCluster-v2's head: cosine logits against prototypes initialised to the centroids.

    The prototypes are the normalised means of each cluster's (L2-normalised) backbone features,
    so label i keeps meaning "the cluster whose centre is prototype i" from the first step.
    """

    def __init__(self, prototypes: torch.Tensor, temperature: float) -> None:
        super().__init__()
        self.prototypes = nn.Parameter(nn.functional.normalize(prototypes, dim=1))
        self.temperature = temperature

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        z = nn.functional.normalize(emb.float(), dim=1)
        w = nn.functional.normalize(self.prototypes, dim=1)
        return z @ w.t() / self.temperature


class DeepCluster:
    """Runs DeepCluster epochs on decoded pixels ``(N, S, S, 3) uint8`` (usually a memmap)."""

    def __init__(
        self,
        config: TrainConfig,
        pixels: np.ndarray,
        labels: np.ndarray | None = None,
        checkpoint_dir: Path | None = None,
        control: RunControl | None = None,
        resume: ResumeState | None = None,
        dist: DistContext | None = None,
        steering: Callable[[int], Steering | None] | None = None,
        init_state: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """``steering(epoch)`` (rank 0) gives the person's exclusions and constraints for the
        clustering of ``epoch`` (read afresh every epoch; used when ``config.steer``).
        ``init_state``: backbone weights that replace the random initialisation of a new run
        (``dcgui.core.train.backbone.read_init``); ignored when resuming."""
        config.validate(n_images=len(pixels))
        # Under torchrun every rank runs this engine: features in shards, k-means on rank 0,
        # DistributedDataParallel training; only rank 0 writes checkpoints (and the session).
        self.dist = dist or DistContext()
        self.config = config
        self.pixels = pixels
        self.labels = labels if labels is not None and (labels >= 0).any() else None
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.control = control or RunControl()
        self.device = self.dist.device if self.dist.is_distributed else resolve_device(config.device)
        self.cuda = self.device.type == "cuda"
        # Mixed precision: float16 + loss scaling on CUDA; bfloat16 on a CPU with bf16 kernels
        # (benchmarks/results.md: with channels-last ~3x the float32 rate of smallnet on the CPU).
        self.amp_dtype = mixed_precision_dtype(self.device) if config.amp else None
        self.amp = self.amp_dtype is not None
        self.channels_last = use_channels_last(config, self.device, self.amp_dtype)

        apply_thread_setting(config)
        # threads=0 on a CPU: measured every epoch (busy machines train faster on fewer threads)
        self.tuner = (ThreadTuner(torch.get_num_threads())
                      if config.threads == 0 and self.device.type == "cpu" and not self.dist.is_distributed else None)
        self.reported_threads = 0
        torch.manual_seed(config.seed)  # the random initialisation (epoch 0) depends on the seed only
        self.model: DeepClusterNet = build_model(config)
        if init_state is not None and resume is None:
            from dcgui.core.train.backbone import load_into

            load_into(self.model, init_state, config.arch)
        self.model = self.model.to(self.device)
        self.steering = steering
        self.steer_mechanism = STEER_MECHANISM
        self.steer_sampling = STEER_SAMPLING
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(
            self._body_parameters(), lr=config.lr, momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.epoch = 0  # last completed epoch
        self.prev_matched: np.ndarray | None = None
        if resume is not None:
            self._load(resume)

    # -- state -----------------------------------------------------------------------------
    def _body_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.model.named_parameters() if not n.startswith("top_layer") and p.requires_grad]

    def _load(self, resume: ResumeState) -> None:
        payload = ckpt.load_checkpoint(resume.checkpoint, map_location=self.device, sha256=resume.sha256,
                                       epoch=resume.epoch)
        saved = TrainConfig.from_json(payload["config"])
        fixed = ("arch", "sobel", "image_size", "projection")
        if any(getattr(saved, f) != getattr(self.config, f) for f in fixed):
            raise ValueError(
                f"checkpoint {resume.checkpoint} was trained with "
                + ", ".join(f"{f}={getattr(saved, f)}" for f in fixed)
                + ": resume with the same settings or start a new session"
            )
        self.model.load_state_dict(payload["model"], strict=False)
        if payload.get("optimizer"):
            self.optimizer.load_state_dict(payload["optimizer"])
        self.epoch = int(payload["epoch"])
        self.prev_matched = resume.prev_matched

    def _save(self, epoch: int) -> tuple[str, str]:
        if self.checkpoint_dir is None or not self.dist.is_main:
            return "", ""
        path = self.checkpoint_dir / ckpt.checkpoint_name(epoch)
        sha = ckpt.save_checkpoint(
            path, model=self.model, optimizer=self.optimizer, config=self.config, epoch=epoch,
        )
        return str(path), sha

    # -- control ---------------------------------------------------------------------------
    def _poll(self, epoch: int) -> Iterator[Event]:
        """Honour stop (raises) and pause (blocks here, announcing it) between batches."""
        # Every rank must stop at the same batch, or the others would wait in an all-reduce. The
        # vote runs on a CPU (gloo) group, so under NCCL it does not synchronise the GPU stream.
        if self.dist.is_distributed and any_rank(self.control.stop_requested, self.dist):
            raise StopRequested
        yield from iter_pause_point(self.control, epoch)

    # -- the loop --------------------------------------------------------------------------
    def run(self, until_epoch: int | None = None) -> Generator[Event, None, None]:
        """Train from the last completed epoch up to ``until_epoch`` (default: config.epochs), or
        up to ``control.until`` once the owner has set it."""
        until = self.config.epochs if until_epoch is None else until_epoch
        if self.checkpoint_dir is not None and self.dist.is_main:
            removed = ckpt.remove_unfinished(self.checkpoint_dir)
            if removed:
                yield Message(f"removed {len(removed)} unfinished checkpoint file(s) left in {self.checkpoint_dir} "
                              f"by a run that was killed while saving (e.g. {removed[0].name})", "info")
        try:
            if self.epoch == 0 and self.checkpoint_dir is not None and self.dist.is_main:
                path = self.checkpoint_dir / ckpt.checkpoint_name(0)
                if not path.exists():  # the random initialisation, kept for every later comparison
                    p, sha = self._save(0)
                    yield CheckpointWritten(0, p, sha)
            # The owner may move the end while training runs (RunControl.set_until).
            while self.epoch < (self.control.until or until):
                yield from self._run_epoch(self.epoch + 1)
        except StopRequested:
            yield Stopped(self.epoch)
            return
        except RuntimeError as exc:
            if is_oom(exc):
                raise oom_error(exc, self.config) from exc
            raise
        finally:
            if self.tuner is not None:  # the probe's count is process-wide: hand back the owner's
                torch.set_num_threads(self.tuner.n_threads)
        yield Finished(self.epoch)

    def _run_epoch(self, epoch: int) -> Generator[Event, None, None]:
        cfg = self.config
        n = len(self.pixels)

        yield from self._poll(epoch)
        # 1. features of every image, in order, with the network as it is after epoch-1
        t0 = time.perf_counter()
        start, stop = shard_range(n, self.dist.rank, self.dist.world_size)
        feats = yield from iter_features(
            self.model, self.pixels[start:stop] if self.dist.is_distributed else self.pixels,
            cfg.image_size, cfg.batch_size * 2, self.device,
            control=self.control, epoch=epoch, channels_last=self.channels_last,
            autocast_dtype=self.amp_dtype,
        )
        t_features = time.perf_counter() - t0
        yield from self._poll(epoch)

        # 2. PCA-whitening + L2 + k-means with a new seed every epoch
        t0 = time.perf_counter()
        yield PhaseProgress(PHASE_CLUSTERING, 0, 1, epoch)
        if not all_finite(feats):
            yield Message(f"epoch {epoch}: non-finite features were replaced by 0 before clustering "
                          "(the training may have diverged: try a lower learning rate)", "warning")
        steer = self._steer(epoch, n)
        included = None if steer is None or steer.n_excluded == 0 else ~steer.excluded
        n_clustered = n if included is None else int(included.sum())
        if n_clustered < cfg.k:
            raise DcguiError(
                f"epoch {epoch}: {n - n_clustered} of {n} images are flagged exclude, which leaves {n_clustered} "
                f"for k={cfg.k} clusters: unflag some (`dcgui flag SESSION --clear PATH`), or turn steering off")
        # The paper's head needs nothing but the assignments: the whitened rows are written over
        # the raw features (never two feature matrices); the centroid head still needs the raw
        # features afterwards for its prototypes.
        keep_raw = cfg.head == "centroids"
        if self.dist.is_distributed:
            # PCA from moments summed over ranks; only the reduced rows travel to rank 0.
            fit = None if included is None else included[start:stop]
            x = gather_features(
                sharded_pca_whiten_l2(feats, self.dist, cfg.pca_dim, inplace=not keep_raw, fit_mask=fit),
                n, self.dist)
        else:
            x = pca_whiten_l2(feats, cfg.pca_dim, inplace=not keep_raw, fit_mask=included)
        km = None
        moved = 0
        if self.dist.is_main:
            assert x is not None
            assign, plain, km, moved = self._cluster(epoch, x, included, steer)
        del x
        if self.dist.is_distributed:
            assign = broadcast_array(assign if self.dist.is_main else None, self.dist, np.int64, (n,))
            plain = broadcast_array(plain if self.dist.is_main else None, self.dist, np.int64, (n,))
        # Which images the epoch visits: uniform over k-means' own clusters, as without steering, so
        # a merged group of several clusters keeps the share of the training its clusters had; what
        # they are trained to predict is the constrained pseudo-label.
        sample_by = plain if self.steer_sampling == "kmeans" else assign
        prototypes = self._prototypes(epoch, feats, assign) if keep_raw else None
        del feats  # from here on only the assignments (and the k prototypes) are held
        clustered = assign >= 0
        stats = cluster_size_stats(assign[clustered], cfg.k)
        mapping = np.asarray(match_clusters(self.prev_matched, assign, cfg.k), dtype=np.int32)
        matched = np.where(clustered, mapping[np.maximum(assign, 0)], -1).astype(np.int32)
        nmi_prev = ami_prev = None
        if self.prev_matched is not None:
            both = clustered & (self.prev_matched >= 0)
            nmi_prev = nmi(self.prev_matched[both], matched[both])
            ami_prev = ami(self.prev_matched[both], matched[both])
        nmi_labels = ari_labels = ami_labels = None
        if self.labels is not None:  # over the clustered images only (excluded ones have no cluster)
            has = (self.labels >= 0) & clustered
            if has.any():
                nmi_labels = nmi(self.labels[has], assign[has])
                ari_labels = ari(self.labels[has], assign[has])
                ami_labels = ami(self.labels[has], assign[has])
        t_clustering = time.perf_counter() - t0
        yield PhaseProgress(PHASE_CLUSTERING, 1, 1, epoch)
        if stats["max"] > 0.5 * n_clustered and cfg.k > 2:
            yield Message(f"epoch {epoch}: one cluster holds {stats['max']} of {n_clustered} images "
                          "(collapse): try a larger k, Sobel on, or the 'centroids' head", "warning")

        # 3. train one pass on the pseudo-labels
        t0 = time.perf_counter()
        loss, n_trained = yield from self._train_epoch(epoch, assign, prototypes, sample_by)
        t_training = time.perf_counter() - t0
        self.epoch = epoch
        self.prev_matched = matched

        path, sha = self._save(epoch)
        seconds = t_features + t_clustering + t_training
        metrics = EpochMetrics(
            epoch=epoch, nmi_prev=nmi_prev, nmi_labels=nmi_labels, ari_labels=ari_labels,
            loss=loss, kmeans_objective=float(km.objective) if km is not None else 0.0, k=cfg.k,
            empty_clusters=int(stats["empty"]), min_cluster=int(stats["min"]), max_cluster=int(stats["max"]),
            size_entropy=float(stats["entropy"]), seconds_features=t_features,
            seconds_clustering=t_clustering, seconds_training=t_training,
            images_per_second=(n + n_trained) / max(seconds, 1e-9), n_images=n,
            ami_prev=ami_prev, ami_labels=ami_labels,
            excluded=0 if steer is None else steer.n_excluded,
            merges_applied=0 if steer is None else steer.merges,
            splits_applied=0 if steer is None else steer.splits,
            steered_images=moved,
        )
        if path:
            yield CheckpointWritten(epoch, path, sha)
        yield EpochFinished(metrics, assign.astype(np.int32), matched, mapping, path, sha)

    def _steer(self, epoch: int, n: int) -> Steering | None:
        """This epoch's exclusions and constraints (None: steering off or nothing to respect).

        Asked on rank 0; under torchrun the exclusion mask is sent to every rank (each fits the
        PCA on its own shard's included rows)."""
        steer = None
        if self.config.steer and self.steering is not None and self.dist.is_main:
            steer = self.steering(epoch)
            if steer is not None and len(steer.excluded) != n:
                raise ValueError(f"steering gives {len(steer.excluded)} images, the collection has {n}")
        if self.dist.is_distributed:
            mask = steer.excluded.astype(np.uint8) if steer is not None else np.zeros(n, np.uint8)
            mask = broadcast_array(mask if self.dist.is_main else None, self.dist, np.uint8, (n,))
            if not self.dist.is_main and mask.any():
                steer = Steering(mask.astype(bool))
        return None if steer is None or steer.is_empty else steer

    def _cluster(self, epoch: int, x: np.ndarray, included: np.ndarray | None,
                 steer: Steering | None) -> tuple[np.ndarray, np.ndarray, KMeansResult, int]:
        """k-means of the included rows of ``x`` with the person's constraints applied.

        Returns (assignment of every image, -1 where excluded; the same before the constraints
        (nearest centroid); the k-means result; images whose pseudo-label the constraints changed)."""
        cfg = self.config
        rows = np.flatnonzero(included) if included is not None else None
        xi = x[rows] if rows is not None else x
        sets: list[np.ndarray] = []
        if steer is not None and steer.sets:
            pos = np.full(len(x), -1, dtype=np.int64)  # image index -> row of xi
            pos[rows if rows is not None else np.arange(len(x))] = np.arange(len(xi))
            sets = [pos[s] for s in steer.sets]
        seed = epoch_seed(cfg.seed, epoch, 1)
        if sets and self.steer_mechanism == "collapse" and len(xi) - sum(len(s) for s in sets) + len(sets) >= cfg.k:
            pts, w = collapse_sets(xi, sets)
            km = kmeans(pts, cfg.k, niter=cfg.kmeans_iters, seed=seed, device=self.device, weights=w)
            plain = nearest_centroid(xi, km.centroids)
        else:
            km = kmeans(xi, cfg.k, niter=cfg.kmeans_iters, seed=seed, device=self.device)
            plain = km.assign
        moved = 0
        a = plain
        if sets:
            a, moved = constrained_assign(xi, km.centroids, plain, sets)
        assign = np.full(len(x), -1, dtype=np.int64)
        before = np.full(len(x), -1, dtype=np.int64)
        where = slice(None) if rows is None else rows
        assign[where] = a
        before[where] = plain
        return assign, before, km, moved

    def _prototypes(self, epoch: int, feats: np.ndarray, assign: np.ndarray) -> torch.Tensor:
        """The centroid head's prototypes: per cluster, the sum of its L2-normalised features.

        Accumulated in chunks (no second feature matrix); under torchrun each rank sums its shard
        and the sums are added over ranks. Empty clusters get a random unit prototype: they simply
        win no image.
        """
        cfg = self.config
        start = shard_range(len(assign), self.dist.rank, self.dist.world_size)[0]  # 0 in one process
        protos = np.zeros((cfg.k, feats.shape[1]), dtype=np.float32)
        for a in range(0, len(feats), PROTOTYPE_CHUNK_ROWS):
            chunk = feats[a:a + PROTOTYPE_CHUNK_ROWS].astype(np.float32)  # a copy, cleaned in place
            np.nan_to_num(chunk, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            chunk /= np.maximum(np.sqrt(np.einsum("ij,ij->i", chunk, chunk)), 1e-12)[:, None]
            ids = assign[start + a:start + a + len(chunk)]
            ok = ids >= 0  # excluded images have no cluster
            np.add.at(protos, ids[ok], chunk[ok])
        if self.dist.is_distributed:
            protos = all_reduce_sum(protos, self.dist)
        empty = ~protos.any(axis=1)
        if empty.any():
            protos[empty] = np.random.default_rng(epoch_seed(cfg.seed, epoch, 3)).standard_normal(
                (int(empty.sum()), protos.shape[1])).astype(np.float32)
        return torch.from_numpy(protos)

    def _make_head(self, epoch: int, prototypes: torch.Tensor | None) -> nn.Module:
        cfg = self.config
        torch.manual_seed(epoch_seed(cfg.seed, epoch, 2))  # top-layer init and dropout of this epoch
        if cfg.head == "centroids" and prototypes is not None:
            self.model.top_layer = None
            return CentroidHead(prototypes, cfg.temperature).to(self.device)
        self.model.set_top_layer(cfg.k)
        self.model.top_layer.to(self.device)  # type: ignore[union-attr]
        return self.model.top_layer  # type: ignore[return-value]

    def _train_epoch(
        self, epoch: int, assign: np.ndarray, prototypes: torch.Tensor | None, sample_by: np.ndarray | None = None,
    ) -> Generator[Event, None, tuple[float, int]]:
        cfg = self.config
        head = self._make_head(epoch, prototypes)
        # The new top layer has its own momentum-free SGD (METHOD.md step 6).
        top_opt = torch.optim.SGD(head.parameters(), lr=cfg.top_lr, weight_decay=cfg.weight_decay)
        rng = np.random.default_rng(epoch_seed(cfg.seed, epoch, 4))
        # excluded images (-1) are never drawn
        by = assign if sample_by is None else sample_by
        ids = uniform_cluster_sample(by, cfg.samples_per_epoch or int(np.count_nonzero(by >= 0)), rng)
        # Every rank draws the same sample (same seed) and trains on its own share of it.
        ids = split_for_rank(ids, self.dist.rank, self.dist.world_size)
        targets = torch.from_numpy(assign.astype(np.int64))
        gen = torch.Generator(device=self.device)
        gen.manual_seed(epoch_seed(cfg.seed, epoch, 5))
        criterion = nn.CrossEntropyLoss()
        # The module to call: the model with its new top layer, or body + centroid head, under DDP
        # when distributed (re-wrapped every epoch since the top layer is new each epoch).
        net = wrap_for_training(self.model, self.dist, None if cfg.head == "reset" else head)

        self.model.train()
        total = len(ids)
        batches = [ids[i:i + cfg.batch_size] for i in range(0, total, cfg.batch_size)]
        if len(batches) > 1 and len(batches[-1]) < 2:  # BatchNorm cannot train on a batch of 1
            batches.pop()
        loss_sum, seen = 0.0, 0
        loss_acc = torch.zeros((), dtype=torch.float32, device=self.device)  # MPS has no float64
        last_report, t_start = 0.0, time.perf_counter()
        tuner = self.tuner
        if tuner is not None:
            tuner.start_epoch(len(batches))
        with training_batches(self.pixels, batches, pin=self.cuda) as reader:
            for b, (batch_ids, batch_u8) in enumerate(reader):
                yield from self._poll(epoch)
                if tuner is not None:
                    tuner.before_batch(b)
                t_batch = time.perf_counter()
                xb = batch_u8.to(self.device, non_blocking=True)
                inputs = random_resized_crop_flip(xb, cfg.image_size, (cfg.crop_scale_min, 1.0), gen)
                if self.channels_last:
                    inputs = inputs.contiguous(memory_format=torch.channels_last)
                yb = targets[batch_ids].to(self.device, non_blocking=True)
                with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp):
                    logits = net(inputs)
                    loss = criterion(logits.float(), yb)
                self.optimizer.zero_grad(set_to_none=True)
                top_opt.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.step(top_opt)
                self.scaler.update()
                if tuner is not None:
                    tuner.after_batch(b, time.perf_counter() - t_batch)
                # Summed on the device and read back only at progress reports: reading it every step
                # would make the host wait for the GPU after each batch.
                loss_acc += loss.detach().float() * len(batch_ids)
                seen += len(batch_ids)
                now = time.perf_counter()
                if now - last_report >= PROGRESS_INTERVAL_S or b == len(batches) - 1:
                    last_report = now
                    loss_sum = float(loss_acc)
                    if not np.isfinite(loss_sum):
                        raise FloatingPointError(
                            f"the training loss became {loss_sum / max(seen, 1)} at epoch {epoch}: lower lr "
                            f"(now {cfg.lr}) or turn mixed precision off"
                        )
                    yield PhaseProgress(PHASE_TRAINING, seen, total, epoch, seen / max(now - t_start, 1e-9))
        self.model.top_layer = None  # the top layer lives one epoch only (METHOD.md step 6)
        self.model.eval()
        if tuner is not None and tuner.times and tuner.choice != self.reported_threads:
            self.reported_threads = tuner.choice
            yield Message(f"epoch {epoch}: training on {tuner.summary()} CPU threads, the fastest measured "
                          "on this epoch's first batches (measured again every epoch)", "info")
        if self.dist.is_distributed:
            total_loss, total_seen = all_reduce_sum(np.array([loss_sum, seen], np.float64), self.dist)
            loss_sum, seen = float(total_loss), int(total_seen)
        return loss_sum / max(seen, 1), int(seen)


def _read_batch(pixels: np.ndarray, pin: bool) -> Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]:
    """The training reader: a batch of image ids -> (sorted ids, their uint8 pixels).

    ``pin`` (CUDA) puts the batch in page-locked memory, so the ``non_blocking`` copy to the GPU
    really overlaps with compute.
    """

    def load(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        # Sorted reads are kinder to the page cache; the order inside a batch does not matter.
        order = np.sort(idx)
        batch = torch.from_numpy(np.ascontiguousarray(pixels[order]))
        return torch.from_numpy(order), batch.pin_memory() if pin else batch

    return load


def training_batches(
    pixels: np.ndarray, batches: list[np.ndarray], pin: bool = False
) -> Prefetcher[np.ndarray, tuple[torch.Tensor, torch.Tensor]]:
    """The training batches read from the (memory-mapped) cache on a thread while this one trains."""
    return Prefetcher(batches, _read_batch(pixels, pin))
