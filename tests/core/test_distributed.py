"""dcgui.core.train.distributed: sharding helpers, and real 2-process gloo runs of gather/broadcast/PCA/DDP."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from dcgui.core.train.clustering import pca_whiten_l2
from dcgui.core.train.distributed import (
    DistContext,
    any_rank,
    broadcast_array,
    gather_features,
    shard_range,
    sharded_pca_whiten_l2,
    split_for_rank,
    wrap_for_training,
)

WORLD = 2
N_GATHER, D_GATHER = 11, 5
N_PCA, D_PCA, PCA_DIM = 60, 12, 6


# -- pure helpers ----------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 7, 10, 1001])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shard_range_covers_rows_in_order_with_balanced_sizes(n: int, world: int) -> None:
    ranges = [shard_range(n, r, world) for r in range(world)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(ranges[r][1] == ranges[r + 1][0] for r in range(world - 1))  # contiguous, in rank order
    sizes = [b - a for a, b in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_shard_range_rejects_bad_rank() -> None:
    with pytest.raises(ValueError, match="rank"):
        shard_range(10, 2, 2)


@pytest.mark.parametrize("n", [0, 1, 9, 10, 257])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_split_for_rank_equal_lengths_and_covers_every_id(n: int, world: int) -> None:
    ids = np.random.default_rng(n).permutation(n).astype(np.int64)
    parts = [split_for_rank(ids, r, world) for r in range(world)]
    lengths = {len(p) for p in parts}
    assert len(lengths) == 1  # DDP needs the same number of steps on every rank
    together = np.concatenate(parts)
    assert set(together.tolist()) == set(ids.tolist())
    assert len(together) - n < world  # padding only to the next multiple of world
    assert all(p.dtype == ids.dtype for p in parts)


def test_single_process_context_is_a_no_op() -> None:
    ctx = DistContext.from_env("cpu", env={})
    assert not ctx.is_distributed and ctx.is_main and ctx.world_size == 1 and ctx.backend is None
    ctx.barrier()
    local = np.arange(12, dtype=np.float32).reshape(4, 3)
    gathered = gather_features(local, 4, ctx)
    assert gathered is not None and np.array_equal(gathered, local)
    arr = np.array([3, 1, 2])
    out = broadcast_array(arr, ctx, np.int64, (3,))
    assert out.dtype == np.int64 and out.tolist() == [3, 1, 2]
    model = nn.Linear(3, 2)
    assert wrap_for_training(model, ctx) is model
    assert any_rank(True, ctx) and not any_rank(False, ctx)
    ctx.close()


def test_from_env_explains_a_bad_environment() -> None:
    with pytest.raises(ValueError, match="RANK=2 / WORLD_SIZE=2"):
        DistContext.from_env("cpu", env={"WORLD_SIZE": "2", "RANK": "2"})
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        DistContext.from_env("cpu", env={"WORLD_SIZE": "2", "RANK": "0"})
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        DistContext.from_env("cpu", env={"WORLD_SIZE": "two"})


def test_gather_rejects_rows_that_are_not_the_ranks_shard() -> None:
    ctx = DistContext.from_env("cpu", env={})
    with pytest.raises(ValueError, match="shard_range"):
        gather_features(np.zeros((3, 2), np.float32), 4, ctx)


def _faiss_pca_whiten_l2(x: np.ndarray, dim: int) -> np.ndarray:
    pca = faiss.PCAMatrix(x.shape[1], dim, -0.5)
    pca.train(x)
    y = pca.apply_py(x)
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def _pca_data() -> np.ndarray:
    rng = np.random.default_rng(5)
    # correlated, anisotropic features so the eigenvectors are well separated
    return (rng.standard_normal((N_PCA, D_PCA)) @ rng.standard_normal((D_PCA, D_PCA)) * 3 + 1).astype(np.float32)


def test_sharded_pca_matches_faiss_pca_matrix_single_process() -> None:
    x = _pca_data()
    ctx = DistContext.from_env("cpu", env={})
    ours = sharded_pca_whiten_l2(x, ctx, PCA_DIM, chunk_rows=7)  # several chunks
    ref = _faiss_pca_whiten_l2(x, PCA_DIM)
    assert ours.shape == (N_PCA, PCA_DIM) and ours.dtype == np.float32
    # equal up to the sign of each component: compare the Gram matrices (what k-means sees)
    np.testing.assert_allclose(ours @ ours.T, ref @ ref.T, atol=2e-3)
    same = pca_whiten_l2(x, PCA_DIM)  # and the engine's own single-process function
    np.testing.assert_allclose(ours @ ours.T, same @ same.T, atol=2e-3)


def test_sharded_pca_drops_degenerate_directions_like_pca_whiten_l2() -> None:
    rng = np.random.default_rng(2)
    x = np.zeros((40, 10), np.float32)
    x[:, :3] = rng.standard_normal((40, 3))  # only 3 directions vary
    x[5] = np.nan  # a broken row counts as zeros
    ctx = DistContext.from_env("cpu", env={})
    ours = sharded_pca_whiten_l2(x, ctx, 8)
    same = pca_whiten_l2(x, 8)
    assert ours.shape == same.shape == (40, 3)
    np.testing.assert_allclose(ours @ ours.T, same @ same.T, atol=2e-3)
    constant = sharded_pca_whiten_l2(np.ones((6, 4), np.float32), ctx, 8)
    assert constant.shape == (6, 1) and not constant.any()


# -- two real processes over gloo --------------------------------------------------------------
class _Net(nn.Module):
    """embed + separate head, like DeepClusterNet with its per-epoch top layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _ddp_batch(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 + rank)  # each rank trains on different images
    return torch.randn(5, 4, generator=g), torch.randint(0, 3, (5,), generator=g)


def _ddp_step(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    loss = nn.functional.cross_entropy(module(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def _fresh_net(rank: int) -> tuple[_Net, nn.Linear]:
    torch.manual_seed(rank)  # different init per rank: DDP must broadcast rank 0's weights
    return _Net(), nn.Linear(6, 3)


def _worker(rank: int, out_dir: str, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    with DistContext.from_env("cpu", timeout_s=60) as ctx:
        assert ctx.is_distributed and ctx.backend == "gloo" and ctx.is_main == (rank == 0)
        res: dict[str, np.ndarray] = {}
        full = (np.arange(N_GATHER)[:, None] * 10 + np.arange(D_GATHER)).astype(np.float32)
        a, b = shard_range(N_GATHER, rank, WORLD)
        g = gather_features(full[a:b], N_GATHER, ctx, chunk_bytes=2 * D_GATHER * 4)  # 2-row chunks
        if g is not None:
            res["gather"] = g
        one = gather_features(np.ones((1, 3), np.float32)[: shard_range(1, rank, WORLD)[1]
                                                          - shard_range(1, rank, WORLD)[0]], 1, ctx)
        if one is not None:  # rank 1 holds no row at all
            res["gather_one"] = one
        assign = (np.arange(13) * 7 % 5).astype(np.int64) if ctx.is_main else None
        res["bcast"] = broadcast_array(assign, ctx, np.int64, (13,), chunk_bytes=16)  # 2 ids a chunk
        res["bcast_empty"] = broadcast_array(np.zeros((0,), np.int32) if ctx.is_main else None,
                                             ctx, np.int32, (0,))
        x = _pca_data()
        pa, pb = shard_range(N_PCA, rank, WORLD)
        red = sharded_pca_whiten_l2(x[pa:pb], ctx, PCA_DIM)
        gathered = gather_features(red, N_PCA, ctx)
        if gathered is not None:
            res["pca"] = gathered
        net, head = _fresh_net(rank)
        wrapped = wrap_for_training(net, ctx, head=head)
        _ddp_step(wrapped, *_ddp_batch(rank))
        res["params"] = torch.cat([p.detach().reshape(-1) for p in wrapped.parameters()]).numpy()
        res["any"] = np.array([any_rank(rank == 1, ctx), any_rank(False, ctx)])
        ctx.barrier()
        np.savez(Path(out_dir) / f"rank{rank}.npz", **res)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, np.ndarray]]:
    out = tmp_path_factory.mktemp("dist")
    mp.spawn(_worker, args=(str(out), _free_port()), nprocs=WORLD, join=True)
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(WORLD)]


def test_gather_gives_rank0_every_row_in_order(two_ranks) -> None:
    r0, r1 = two_ranks
    expected = (np.arange(N_GATHER)[:, None] * 10 + np.arange(D_GATHER)).astype(np.float32)
    assert r0["gather"].dtype == np.float32
    assert np.array_equal(r0["gather"], expected)
    assert "gather" not in r1  # other ranks get None
    assert np.array_equal(r0["gather_one"], np.ones((1, 3), np.float32))


def test_broadcast_gives_every_rank_rank0s_assignments(two_ranks) -> None:
    expected = np.arange(13) * 7 % 5
    for r in two_ranks:
        assert r["bcast"].dtype == np.int64 and np.array_equal(r["bcast"], expected)
        assert r["bcast_empty"].shape == (0,) and r["bcast_empty"].dtype == np.int32


def test_sharded_pca_over_two_ranks_matches_faiss_on_all_rows(two_ranks) -> None:
    ours = two_ranks[0]["pca"]
    ref = _faiss_pca_whiten_l2(_pca_data(), PCA_DIM)
    np.testing.assert_allclose(ours @ ours.T, ref @ ref.T, atol=2e-3)


def test_any_rank_sees_a_flag_raised_on_another_rank(two_ranks) -> None:
    for r in two_ranks:  # rank 1 raised it, rank 0 sees it too; nobody raised the second
        assert r["any"].tolist() == [True, False]


def test_ddp_step_equals_one_process_step_on_both_batches(two_ranks) -> None:
    r0, r1 = two_ranks
    assert np.array_equal(r0["params"], r1["params"])  # gradients were averaged across ranks
    # same as one process stepping on the concatenated batch, starting from rank 0's weights
    net, head = _fresh_net(0)
    single = wrap_for_training(net, DistContext.from_env("cpu", env={}), head=head)
    xs, ys = zip(*(_ddp_batch(r) for r in range(WORLD)))
    _ddp_step(single, torch.cat(xs), torch.cat(ys))
    params = torch.cat([p.detach().reshape(-1) for p in single.parameters()]).numpy()
    np.testing.assert_allclose(r0["params"], params, rtol=1e-5, atol=1e-6)
