"""Steering's arrays: exclusions, must-link sets and cannot-link groups (issue 24)."""

from __future__ import annotations

import numpy as np
import pytest

from dcgui.core.analysis.matching import match_clusters
from dcgui.core.train.clustering import kmeans, pca_whiten_l2
from dcgui.core.train.sampler import uniform_cluster_sample
from dcgui.core.train.steering import build_steering, collapse_sets, constrained_assign


def test_later_groups_take_images_and_excluded_images_leave_every_set() -> None:
    merge_a = (1, "merge", [np.array([0, 1, 2, 3])])
    split = (2, "split", [np.array([4, 5]), np.array([6, 7])])
    merge_b = (3, "merge", [np.array([3, 6, 7, 8])])  # takes 3 from merge_a and all of part 2
    st = build_steering(10, np.array([0]), [merge_b, split, merge_a])  # order given does not matter: ids do
    sets = [s.tolist() for s in st.sets]
    assert sets == [[1, 2], [4, 5], [3, 6, 7, 8]]
    assert st.excluded.tolist() == [True] + [False] * 9
    # the split's part 2 now lives in merge_b's set: that set stays apart from part 1
    assert st.apart == ((1, 2),)
    assert (st.merges, st.splits, st.n_excluded) == (2, 1, 1)


def test_constrained_assign_moves_each_set_whole_and_keeps_split_parts_apart() -> None:
    rng = np.random.default_rng(0)
    centroids = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([centroids[j] + rng.normal(0, 0.5, (20, 2)) for j in range(3)])
    plain = np.repeat(np.arange(3), 20)
    # a set mostly near centroid 1 with two images from cluster 0
    s1 = np.array([0, 1, 20, 21, 22, 23, 24])
    # two parts that would both go to centroid 2: they must differ
    p1, p2 = np.arange(40, 45), np.arange(45, 50)
    out, moved = constrained_assign(x, centroids, plain, [s1, p1, p2])
    assert set(out[s1]) == {1} and moved >= 2
    assert len(set(out[p1])) == 1 and len(set(out[p2])) == 1
    assert out[p1[0]] != out[p2[0]]
    untouched = np.setdiff1d(np.arange(60), np.concatenate([s1, p1, p2]))
    assert np.array_equal(out[untouched], plain[untouched])
    # two merged groups near one centroid: each gets its own, the cheaper move taken
    big, near = np.arange(0, 15), np.arange(15, 20)
    out, _ = constrained_assign(x, centroids, plain, [big, near])
    assert set(out[big]) == {0} and len(set(out[near])) == 1 and out[near[0]] != 0


def test_a_merge_that_takes_most_of_an_older_one_extends_it() -> None:
    older = (1, "merge", [np.arange(0, 10)])
    newer = (2, "merge", [np.concatenate([np.arange(0, 8), np.arange(20, 25)])])  # 8 of its 10 images
    other = (3, "merge", [np.array([30, 31, 9])])  # takes one image only: the rest stays
    st = build_steering(40, None, [older, newer, other])
    assert [s.tolist() for s in st.sets] == [[0, 1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 22, 23, 24], [9, 30, 31]]


def test_collapsed_sets_weigh_as_their_members() -> None:
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    rows, w = collapse_sets(x, [np.array([1, 2, 3])])
    assert rows.shape == (4, 2) and w.tolist() == [1, 1, 1, 3]
    assert np.allclose(rows[-1], x[1:4].mean(axis=0))
    km = kmeans(rows, 2, niter=5, seed=0, weights=w)
    assert km.centroids.shape == (2, 2)
    with pytest.raises(ValueError, match="positive"):
        kmeans(rows, 2, weights=np.zeros(4))


def test_pca_fit_mask_fits_on_the_included_rows_only() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    x[:20] *= 50  # outliers that would dominate the fit
    mask = np.ones(200, bool)
    mask[:20] = False
    ref = pca_whiten_l2(x[mask], 4)
    out = pca_whiten_l2(x, 4, fit_mask=mask)
    assert out.shape == (200, ref.shape[1])
    # same transform up to the sign of each component
    signs = np.sign((out[mask] * ref).sum(axis=0))
    assert np.allclose(out[mask] * signs, ref, atol=1e-4)


def test_images_without_a_cluster_are_never_sampled_nor_matched() -> None:
    assign = np.array([0, 0, -1, 1, 1, -1, 2])
    ids = uniform_cluster_sample(assign, 30, np.random.default_rng(0))
    assert len(ids) == 30 and not np.isin(ids, [2, 5]).any()
    mapping = match_clusters(np.array([1, 1, 0, 0, 0, -1, 2]), assign, 3)
    assert sorted(mapping.tolist()) == [0, 1, 2]
    assert mapping[0] == 1 and mapping[1] == 0
