"""The pieces a DeepCluster epoch needs to run on several processes launched by ``torchrun``.

Layout of one distributed epoch (docs/SCALING.md has the arithmetic):

1. every rank computes the features of its contiguous slice ``shard_range(n, rank, world)``;
2. PCA is fitted from moments summed over the ranks (``sharded_pca_whiten_l2``: only a
   ``D x D`` matrix travels) and every rank projects its own slice to ``pca_dim``;
3. ``gather_features`` brings the reduced rows to rank 0, in order, chunk by chunk into one
   preallocated array; rank 0 runs k-means;
4. ``broadcast_array`` sends the assignments from rank 0 to every rank; each rank draws the same
   uniform sample (same seed) and trains on ``split_for_rank(ids, rank, world)``;
5. the model is wrapped with ``wrap_for_training`` so gradients are averaged across ranks.

Without ``WORLD_SIZE`` in the environment (or with ``WORLD_SIZE=1``) ``DistContext.from_env()``
is a single-process context and every helper degrades to the identity, so the engine can call
them unconditionally.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from dcgui.core.errors import InvalidValue

# Rows per message when gathering/broadcasting: bounded (32 MiB) so neither side ever needs a
# second full-size buffer, large enough that per-message latency does not matter.
CHUNK_BYTES = 32 << 20


@dataclass
class DistContext:
    """Rank, world size and device of this process; a no-op context when ``world_size == 1``.

    Build it with ``DistContext.from_env()`` (reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` as set
    by torchrun) and call ``close()`` (or use it as a context manager) at the end of the run.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # "nccl" (CUDA) or "gloo" (CPU); None when single-process
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _owns_group: bool = False
    _control_group: Any = None  # a gloo group for small CPU-side messages (see any_rank)

    @classmethod
    def from_env(
        cls, device_type: str = "auto", timeout_s: float = 1800.0, env: dict[str, str] | None = None
    ) -> DistContext:
        """Join the process group described by the environment, or return a single-process context.

        ``device_type``: "auto" uses NCCL on ``cuda:LOCAL_RANK`` when CUDA is available, else gloo
        on the CPU; "cpu" forces gloo; "cuda" requires CUDA. ``timeout_s`` bounds every collective
        (k-means on rank 0 runs while the others wait at a broadcast, so keep it generous).
        """
        env = dict(os.environ) if env is None else env
        world = _env_int(env, "WORLD_SIZE", 1)
        rank = _env_int(env, "RANK", 0)
        local_rank = _env_int(env, "LOCAL_RANK", rank)
        if world < 1 or not (0 <= rank < world):
            raise InvalidValue(f"RANK={rank} / WORLD_SIZE={world} are inconsistent: launch with torchrun, "
                             "which sets both (0 <= RANK < WORLD_SIZE)")
        use_cuda = device_type == "cuda" or (device_type == "auto" and torch.cuda.is_available())
        if device_type == "cuda" and not torch.cuda.is_available():
            raise InvalidValue("device 'cuda' was requested for a distributed run but CUDA is not available: "
                             "use device 'cpu' (gloo) or run on a machine with NVIDIA GPUs")
        if use_cuda:
            if local_rank >= torch.cuda.device_count():
                raise InvalidValue(f"LOCAL_RANK={local_rank} but this node has {torch.cuda.device_count()} GPU(s): "
                                 "start torchrun with --nproc-per-node at most the number of GPUs")
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
        if world == 1:
            return cls(rank=0, world_size=1, local_rank=0, backend=None, device=device)

        backend = "nccl" if use_cuda else "gloo"
        owns = False
        if not dist.is_initialized():
            for var in ("MASTER_ADDR", "MASTER_PORT"):
                if var not in env:
                    raise InvalidValue(f"{var} is not set: launch with torchrun (it sets it) or export {var}")
            kwargs: dict[str, Any] = {}
            if use_cuda:
                kwargs["device_id"] = device  # binds NCCL to this GPU eagerly (no guessing later)
            dist.init_process_group(
                backend, init_method="env://", rank=rank, world_size=world,
                timeout=datetime.timedelta(seconds=timeout_s), **kwargs,
            )
            owns = True
        return cls(rank=rank, world_size=world, local_rank=local_rank, backend=backend,
                   device=device, _owns_group=owns)

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0: the rank that runs k-means, writes checkpoints and the session store."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.is_distributed:
            if self.backend == "nccl":
                dist.barrier(device_ids=[self.device.index or 0])
            else:
                dist.barrier()

    def control_group(self) -> Any:
        """A gloo process group over the same ranks, for control messages that live on the CPU.

        On NCCL every collective runs on the GPU stream and reading its result back on the host
        synchronises that stream; a per-batch "did anyone press stop?" check through NCCL would
        stall the CUDA pipeline each step. Created on first use (collectively: call it on every
        rank at the same point), ``None`` when gloo is the main backend already.
        """
        if self.backend == "nccl" and self._control_group is None:
            self._control_group = dist.new_group(backend="gloo")
        return self._control_group

    def close(self) -> None:
        """Leave the process group (only if this context created it)."""
        if self._owns_group and dist.is_initialized():
            dist.destroy_process_group()
        self._owns_group = False
        self._control_group = None

    def __enter__(self) -> DistContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The wire device: NCCL only moves CUDA tensors, gloo moves CPU tensors.
    def _wire(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device, non_blocking=False) if self.backend == "nccl" else t


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidValue(f"environment variable {name}={raw!r} is not an integer (torchrun sets it)") from None


def shard_range(n: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous rows ``[start, stop)`` of ``n`` that ``rank`` handles; sizes differ by <= 1.

    Contiguous slices keep each rank's reads of the memory-mapped cache sequential and make the
    gather a simple concatenation in rank order.
    """
    if world < 1 or not (0 <= rank < world) or n < 0:
        raise ValueError(f"shard_range(n={n}, rank={rank}, world={world}): need n >= 0 and 0 <= rank < world")
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def split_for_rank(ids: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's share of the (already shuffled) sample ``ids``; every rank gets the same length.

    DistributedDataParallel needs the same number of steps on every rank, so the list is padded
    by wrapping around to a multiple of ``world`` (as ``torch.utils.data.DistributedSampler``
    does; at most ``world - 1`` images are seen twice) and dealt out round-robin.
    """
    if world < 1 or not (0 <= rank < world):
        raise ValueError(f"split_for_rank(rank={rank}, world={world}): need 0 <= rank < world")
    ids = np.asarray(ids)
    if world == 1 or len(ids) == 0:
        return ids.copy()
    per = -(-len(ids) // world)
    padded = np.resize(ids, per * world)  # np.resize repeats from the start
    return padded[rank::world].copy()


def _chunks(start: int, stop: int, rows: int) -> Iterator[tuple[int, int]]:
    for a in range(start, stop, rows):
        yield a, min(a + rows, stop)


def gather_features(local: np.ndarray, n_total: int, ctx: DistContext,
                    chunk_bytes: int = CHUNK_BYTES) -> np.ndarray | None:
    """Rank 0 receives the full ``(n_total, D)`` float32 matrix, rows in image order; others get None.

    ``local`` must hold exactly the rows ``shard_range(n_total, ctx.rank, ctx.world_size)``.
    Rank 0 preallocates the result once and receives each other rank's slice in chunks of about
    ``chunk_bytes`` straight into it: peak memory on rank 0 is the result plus one chunk, never
    ``world`` full copies (``all_gather`` would need that on every rank).
    """
    local = np.ascontiguousarray(local, dtype=np.float32)
    if local.ndim != 2:
        raise ValueError(f"gather_features: local features must be 2-D (rows, dim), got shape {local.shape}")
    start, stop = shard_range(n_total, ctx.rank, ctx.world_size)
    if local.shape[0] != stop - start:
        raise ValueError(f"gather_features: rank {ctx.rank} holds {local.shape[0]} rows but its shard of "
                         f"{n_total} is rows {start}:{stop} ({stop - start}); compute features on shard_range()")
    if not ctx.is_distributed:
        return local
    dim = local.shape[1]
    rows = max(1, chunk_bytes // max(1, dim * 4))
    if ctx.is_main:
        out = np.empty((n_total, dim), dtype=np.float32)
        out[start:stop] = local
        buf = ctx._wire(torch.empty((min(rows, max(n_total, 1)), dim), dtype=torch.float32))
        for src in range(1, ctx.world_size):
            s0, s1 = shard_range(n_total, src, ctx.world_size)
            for a, b in _chunks(s0, s1, rows):
                view = buf[: b - a]
                dist.recv(view, src=src)
                out[a:b] = view.cpu().numpy()
        return out
    for a, b in _chunks(0, stop - start, rows):
        dist.send(ctx._wire(torch.from_numpy(local[a:b])), dst=0)
    return None


def broadcast_array(arr: np.ndarray | None, ctx: DistContext, dtype: Any,
                    shape: tuple[int, ...], chunk_bytes: int = CHUNK_BYTES) -> np.ndarray:
    """Every rank gets rank 0's ``arr`` (e.g. the k-means assignments); ``arr`` is ignored elsewhere.

    ``dtype`` and ``shape`` must be known on every rank beforehand (the assignments are
    ``(n_images,) int64``), so no metadata round trip is needed. Sent in chunks of ``chunk_bytes``.
    """
    dtype = np.dtype(dtype)
    if ctx.is_main:
        if arr is None:
            raise ValueError("broadcast_array: rank 0 must pass the array to send")
        arr = np.asarray(arr)
        if arr.shape != tuple(shape):
            raise ValueError(f"broadcast_array: rank 0 holds shape {arr.shape}, expected {tuple(shape)}")
        out = np.ascontiguousarray(arr, dtype=dtype).copy() if ctx.is_distributed else np.asarray(arr, dtype=dtype)
    else:
        out = np.empty(shape, dtype=dtype)
    if not ctx.is_distributed or out.size == 0:
        return out
    flat = out.reshape(-1)
    step = max(1, chunk_bytes // dtype.itemsize)
    for a, b in _chunks(0, flat.size, step):
        t = torch.from_numpy(flat[a:b])
        wire = ctx._wire(t)
        dist.broadcast(wire, src=0)
        if not ctx.is_main and wire is not t:
            t.copy_(wire.cpu())
    return out


def all_reduce_sum(arr: np.ndarray, ctx: DistContext) -> np.ndarray:
    """Element-wise sum of ``arr`` over all ranks, returned on every rank (float64 stays float64)."""
    if not ctx.is_distributed:
        return np.array(arr, copy=True)
    t = torch.from_numpy(np.ascontiguousarray(arr).copy())
    wire = ctx._wire(t)
    dist.all_reduce(wire, op=dist.ReduceOp.SUM)
    return wire.cpu().numpy() if wire is not t else t.numpy()


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank if ``flag`` is True on any rank (e.g. the user pressed stop on rank 0).

    Runs on the CPU (gloo, through ``ctx.control_group()`` under NCCL), so calling it between
    training batches does not synchronise the GPU stream. Collective: every rank must call it at
    the same batch.
    """
    if not ctx.is_distributed:
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=ctx.control_group())
    return bool(t.item())


def sharded_pca_whiten_l2(local: np.ndarray, ctx: DistContext, dim: int = 256,
                          chunk_rows: int = 16384, inplace: bool = False,
                          fit_mask: np.ndarray | None = None) -> np.ndarray:
    """``clustering.pca_whiten_l2`` fitted on the rows of *all* ranks, applied to this rank's rows.

    Only ``N``, ``sum x`` (D) and ``sum x x^T`` (D x D, float64) cross the network (summed over
    ranks on ``ctx.device``, the GPU on NCCL ranks), so the raw ``N x D`` features never leave
    their rank and rank 0 later gathers ``N x dim`` instead of ``N x D``.
    """
    from dcgui.core.train.clustering import pca_whiten_l2

    def reduce(stats: torch.Tensor) -> torch.Tensor:
        if ctx.is_distributed:
            dist.all_reduce(stats, op=dist.ReduceOp.SUM)
        return stats

    return pca_whiten_l2(local, dim, inplace=inplace, chunk_rows=chunk_rows, device=ctx.device, reduce=reduce,
                         fit_mask=fit_mask)


class _EmbedHead(nn.Module):
    """body.embed followed by a separate head as one ``forward``: DDP only syncs what forward runs."""

    def __init__(self, body: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body.embed(x))  # type: ignore[operator]


def wrap_for_training(model: nn.Module, ctx: DistContext, head: nn.Module | None = None,
                      sync_bn: bool = False) -> nn.Module:
    """The module to call in the training loop: ``model`` (or ``head(model.embed(x))``) under DDP.

    Call it at the start of every epoch, after the new top layer exists: DDP registers the
    parameters when it is built, and DeepCluster replaces the top layer each epoch. Building it
    broadcasts rank 0's weights, so the new top layer starts identical everywhere.
    ``find_unused_parameters=False`` (every parameter gets a gradient each step: faster) and
    ``broadcast_buffers=True`` (BatchNorm running statistics follow rank 0, so the eval-mode
    feature pass is identical on every rank). ``sync_bn`` turns BatchNorm into SyncBatchNorm (CUDA
    only), worthwhile when the per-GPU batch is small. Single-process: returns the module as is.
    """
    module: nn.Module = model if head is None else _EmbedHead(model, head)
    if not ctx.is_distributed:
        return module
    if sync_bn and ctx.backend == "nccl":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        module, device_ids=ids, output_device=ids[0] if ids else None,
        find_unused_parameters=False, broadcast_buffers=True,
    )


