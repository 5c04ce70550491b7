"""kNN / linear probe / NMI: high on separable features, chance on random labels."""

from __future__ import annotations

import numpy as np
import pytest

from dcgui.core.analysis.evaluate import (
    EvalReport,
    EvalRow,
    evaluate_features,
    kmeans_nmi,
    knn_accuracy,
    knn_predict,
    knn_split_accuracy,
    linear_probe_accuracy,
    nmi_geometric,
    stratified_split,
)


def blobs(classes: int = 4, per: int = 60, d: int = 32, noise: float = 0.15, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(classes), per)
    return (centres[y] + noise * rng.normal(size=(len(y), d))).astype(np.float32), y


def test_knn_high_on_separable_and_chance_on_random_labels() -> None:
    x, y = blobs()
    assert knn_accuracy(x, y) > 0.97
    rng = np.random.default_rng(5)
    accs = [knn_accuracy(x, rng.permutation(y)) for _ in range(3)]
    assert abs(np.mean(accs) - 0.25) < 0.08


def test_knn_leave_one_out_does_not_see_the_image_itself() -> None:
    """Every image alone in its class: with itself excluded it can never be right."""
    x = np.eye(10, dtype=np.float32) + 0.01
    assert knn_accuracy(x, np.arange(10), k=3) == 0.0


def test_knn_votes_are_temperature_weighted() -> None:
    """One very close neighbour of class 0 beats two far ones of class 1 (a majority vote would not)."""
    train = np.array([[1.0, 0.0], [0.5, 0.866], [0.5, -0.866]], dtype=np.float32)
    labels = np.array([0, 1, 1])
    query = np.array([[0.99, 0.141]], dtype=np.float32)
    assert knn_predict(train, labels, query, k=3, t=0.07)[0] == 0
    # with a huge temperature the weights are equal: the majority wins
    assert knn_predict(train, labels, query, k=3, t=1e6)[0] == 1


def test_knn_split_accuracy() -> None:
    x, y = blobs()
    tr, te = stratified_split(y, 0.5, seed=0)
    assert knn_split_accuracy(x[tr], y[tr], x[te], y[te]) > 0.97


def test_stratified_split_is_balanced_disjoint_and_seeded() -> None:
    y = np.array([0] * 10 + [1] * 7 + [2] * 1)
    tr, te = stratified_split(y, 0.5, seed=3)
    assert set(tr) | set(te) == set(range(len(y))) and not set(tr) & set(te)
    assert np.bincount(y[te], minlength=3).tolist() == [5, 4, 0]  # round(3.5) = 4; a single image trains
    assert set(y[tr]) == {0, 1, 2}
    tr2, te2 = stratified_split(y, 0.5, seed=3)
    assert (tr == tr2).all() and (te == te2).all()
    assert not np.array_equal(stratified_split(y, 0.5, seed=4)[1], te)


def test_linear_probe_high_on_separable_and_chance_on_random() -> None:
    x, y = blobs(noise=0.2)
    tr, te = stratified_split(y, 0.5, seed=0)
    assert linear_probe_accuracy(x[tr], y[tr], x[te], y[te], seed=0) > 0.95
    yr = np.random.default_rng(1).permutation(y)
    acc = linear_probe_accuracy(x[tr], yr[tr], x[te], yr[te], seed=0)
    assert acc < 0.4


def test_linear_probe_is_deterministic_and_handles_constant_dims() -> None:
    x, y = blobs(noise=0.2)
    x[:, 3] = 7.0  # a dead unit: zero variance must not produce NaN
    tr, te = stratified_split(y, 0.5, seed=0)
    a = linear_probe_accuracy(x[tr], y[tr], x[te], y[te], seed=0)
    b = linear_probe_accuracy(x[tr], y[tr], x[te], y[te], seed=0)
    assert a == b and a > 0.9


def test_linear_probe_needs_standardisation() -> None:
    """A class signal in a tiny-scale dimension next to large noise: standardising finds it."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    x = np.column_stack([1000.0 * rng.normal(size=200) * 0 + 1000.0, (y - 0.5) * 1e-3 + 1e-5 * rng.normal(size=200)])
    x = x.astype(np.float32)
    tr, te = stratified_split(y, 0.5)
    assert linear_probe_accuracy(x[tr], y[tr], x[te], y[te]) > 0.95


def test_kmeans_nmi() -> None:
    x, y = blobs(noise=0.2)
    assert min(kmeans_nmi(x, y, seed=s) for s in range(3)) > 0.9  # best of nredo runs: stable
    assert kmeans_nmi(x, np.random.default_rng(0).permutation(y), seed=0) < 0.1
    assert nmi_geometric(y, y) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k"):
        kmeans_nmi(x[:3], y[:3], k=4)


def test_evaluate_features_ignores_unlabelled_rows_and_gaps_in_class_ids() -> None:
    x, y = blobs(classes=3)
    y = np.where(y == 2, 5, y)  # class ids 0, 1, 5
    y[:10] = -1  # unlabelled images
    knn, lin, nmi = evaluate_features(x, y, leave_one_out=True)
    assert knn > 0.95 and lin > 0.95 and nmi > 0.8


def test_report_table_and_json() -> None:
    rep = EvalReport(epoch=3, rows=[EvalRow("epoch 3", 3, 0.9, 0.8, 0.5), EvalRow("random init (epoch 0)", 0, 0.5, 0.4, 0.1)],
                     folder="/x", n_images=40, n_classes=4, class_names=list("abcd"),
                     knn_protocol="leave-one-out", linear_protocol="split", seconds=1.0)
    table = rep.to_table()
    assert "epoch 3" in table and "random init (epoch 0)" in table and "0.250" in table
    import json

    d = json.loads(rep.to_json())
    assert d["epoch"] == 3 and d["rows"][0]["knn_acc"] == 0.9 and d["rows"][1]["model"] == "random init (epoch 0)"
    assert d["chance"] == 0.25 and d["knn"]["k"] == 20
