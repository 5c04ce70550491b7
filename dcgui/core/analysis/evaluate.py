"""How good are the learned features? Standard protocols on a labelled collection.

Pure functions over numpy features; ``dcgui.services.evaluate`` feeds them a session's network
at an epoch and the same network at its random initialisation (epoch 0):

- **kNN** (Wu et al. 2018, instance discrimination): cosine similarity, the k = 20 nearest
  labelled neighbours vote with weight ``exp(sim / T)``, T = 0.07. On the session's own folder:
  leave-one-out over all labelled images (each image is classified by all the others). On another
  folder: a stratified 50/50 split (seeded), neighbours taken from the first half.
- **Linear probe**: a multinomial logistic regression on frozen, standardised features (mean and
  std of the training half), trained to convergence with full-batch L-BFGS (deterministic: zero
  initialisation, fixed split seed), on a stratified 50/50 split; test accuracy is reported.
- Every protocol runs on the session's feature space: backbone features minus the collection
  mean, L2-normalised (``services.explore.centre_normalize``; label-free).
- **NMI**: k-means (faiss, k = number of classes, best of 5 runs, fixed seed) on the L2-normalised features
  against the labels, geometric normalisation as in the paper.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dcgui.core.analysis.neighbours import normalize_rows

KNN_K = 20
KNN_T = 0.07


# ---------------------------------------------------------------------------------------------
# pure functions
# ---------------------------------------------------------------------------------------------
def _check(features: np.ndarray, labels: np.ndarray, what: str = "features") -> None:
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} {what} rows but {len(labels)} labels: they must match row for row")


def _vote(sims: np.ndarray, ids: np.ndarray, train_labels: np.ndarray, n_classes: int, t: float) -> np.ndarray:
    """Temperature-weighted class votes of neighbours (ids -1 ignored) → predicted class."""
    valid = ids >= 0
    weights = np.where(valid, np.exp((np.where(valid, sims, 0.0).astype(np.float64) - 1.0) / t), 0.0)
    # exp((s - 1) / T): the same argmax as exp(s / T), without overflow for tiny T
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    cells = rows * n_classes + train_labels[np.where(valid, ids, 0)].ravel()
    votes = np.bincount(cells, weights=weights.ravel(), minlength=len(ids) * n_classes)
    return votes.reshape(len(ids), n_classes).argmax(axis=1)


def knn_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, k: int = KNN_K,
                t: float = KNN_T) -> np.ndarray:
    """Class predicted for each test row by its ``k`` nearest training rows (cosine, weighted)."""
    import faiss

    _check(train_x, train_y, "training")
    tr = normalize_rows(train_x)
    te = normalize_rows(test_x)
    index = faiss.IndexFlatIP(tr.shape[1])
    index.add(tr)
    sims, ids = index.search(te, max(1, min(k, len(tr))))
    y = np.asarray(train_y, dtype=np.int64)
    return _vote(sims, ids, y, int(y.max()) + 1, t)


def knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = KNN_K, t: float = KNN_T) -> float:
    """Leave-one-out kNN accuracy: every row classified by its ``k`` nearest *other* rows."""
    from dcgui.core.analysis.neighbours import FeatureIndex

    _check(features, labels)
    y = np.asarray(labels, dtype=np.int64)
    if len(y) < 2:
        raise ValueError("kNN accuracy needs at least 2 labelled images")
    index = FeatureIndex(features, exact_limit=len(y))  # always exact: the protocol's number
    sims, ids = index.search_excluding(np.arange(len(y)), k)
    pred = _vote(sims, ids, y, int(y.max()) + 1, t)
    return float((pred == y).mean())


def knn_split_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                       k: int = KNN_K, t: float = KNN_T) -> float:
    """kNN accuracy on ``test`` with neighbours from ``train``."""
    _check(test_x, test_y, "test")
    pred = knn_predict(train_x, train_y, test_x, k, t)
    return float((pred == np.asarray(test_y)).mean())


def stratified_split(labels: np.ndarray, test_fraction: float = 0.5, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices), each class split ``1 - test_fraction`` / ``test_fraction``.

    Every class keeps at least one training image; a class of one image has no test image.
    """
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        n_test = min(round(len(members) * test_fraction), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)).astype(np.int64), np.sort(np.concatenate(test)).astype(np.int64)


def linear_probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                          seed: int = 0, weight_decay: float = 1e-4, max_iter: int = 300) -> float:
    """Test accuracy of a multinomial logistic regression on standardised frozen features.

    Full-batch L-BFGS (scipy's, the algorithm of torch's ``LBFGS``, without importing
    ``torch.optim``, which pulls in ``torch._dynamo``: 6 s on first use) from zero weights on the
    mean cross-entropy + ``weight_decay``/2 ||W||². The problem is convex and the start fixed, so
    the result is deterministic; ``seed`` is kept for protocols that sample.
    """
    from scipy.optimize import minimize

    del seed  # deterministic already (see above)
    _check(train_x, train_y, "training")
    _check(test_x, test_y, "test")
    tr = np.asarray(train_x, dtype=np.float32)  # float32 products: 100k x 4096 stays 1.6 GB
    mean = tr.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = tr.std(axis=0, dtype=np.float64).astype(np.float32)
    std[std < 1e-6] = 1.0  # constant dims (dead ReLUs) stay 0 instead of dividing by 0
    x = np.nan_to_num((tr - mean) / std)
    y = np.asarray(train_y, dtype=np.int64)
    n, d = x.shape
    c = int(max(y.max(), np.asarray(test_y).max())) + 1
    onehot = np.zeros((n, c), dtype=np.float32)
    onehot[np.arange(n), y] = 1.0

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * c].reshape(d, c).astype(np.float32), theta[d * c:].astype(np.float32)
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        p = np.exp(logp)
        loss = -(onehot * logp).sum(dtype=np.float64) / n + 0.5 * weight_decay * (w * w).sum(dtype=np.float64)
        g = (p - onehot) / n
        gw = x.T @ g + weight_decay * w
        return float(loss), np.concatenate([gw.ravel(), g.sum(axis=0)]).astype(np.float64)

    res = minimize(loss_grad, np.zeros(d * c + c), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "maxcor": 20, "gtol": 1e-6})
    w, b = res.x[: d * c].reshape(d, c), res.x[d * c:]
    te = np.nan_to_num((np.asarray(test_x, dtype=np.float32) - mean) / std)
    pred = (te @ w + b).argmax(axis=1)
    return float((pred == np.asarray(test_y)).mean())


def nmi_geometric(a: np.ndarray, b: np.ndarray) -> float:
    """NMI with the paper's geometric normalisation I(A;B) / sqrt(H(A) H(B))."""
    from dcgui.core.analysis.metrics import nmi

    return float(nmi(np.asarray(a), np.asarray(b)))


def kmeans_nmi(features: np.ndarray, labels: np.ndarray, k: int | None = None, seed: int = 0,
               niter: int = 20, nredo: int = 5) -> float:
    """NMI between k-means (k = number of classes by default) on normalised features and labels.

    The best of ``nredo`` k-means runs (lowest objective) is kept: with k this small a single run
    often merges two classes and the number would swing with the seed.
    """
    import faiss

    _check(features, labels)
    y = np.asarray(labels)
    k = int(k or len(np.unique(y)))
    x = normalize_rows(features)
    if k < 2 or len(x) < k:
        raise ValueError(f"k-means NMI needs 2 <= k <= number of images (k={k}, {len(x)} images)")
    km = faiss.Kmeans(x.shape[1], k, niter=niter, nredo=nredo, seed=seed, max_points_per_centroid=len(x),
                     min_points_per_centroid=1, verbose=False)  # small collections: no warning
    km.train(x)
    _, assign = km.index.search(x, 1)
    return nmi_geometric(y, assign[:, 0])


# ---------------------------------------------------------------------------------------------
# session glue
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalRow:
    model: str  # "epoch E" or "random init (epoch 0)"
    epoch: int
    knn_acc: float
    linear_acc: float
    nmi: float


@dataclass(frozen=True)
class EvalReport:
    epoch: int
    rows: list[EvalRow]
    folder: str
    n_images: int
    n_classes: int
    class_names: list[str]
    knn_protocol: str  # "leave-one-out" or "stratified 50/50 split"
    linear_protocol: str
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def chance(self) -> float:
        return 1.0 / max(self.n_classes, 1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["chance"] = self.chance
        d["knn"] = {"k": KNN_K, "temperature": KNN_T, "protocol": self.knn_protocol}
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_table(self) -> str:
        """Plain-text table for the terminal."""
        head = f"{'model':<22} {'kNN acc':>8} {'linear acc':>10} {'NMI':>6}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.model:<22} {r.knn_acc:>8.3f} {r.linear_acc:>10.3f} {r.nmi:>6.3f}")
        lines.append(f"chance: {self.chance:.3f} ({self.n_classes} classes, {self.n_images} images)")
        lines.append(f"kNN: k={KNN_K}, cosine, weights exp(sim/{KNN_T}), {self.knn_protocol}; "
                     f"linear probe: {self.linear_protocol}; NMI: k-means k={self.n_classes} vs labels")
        return "\n".join(lines)


def evaluate_features(features: np.ndarray, labels: np.ndarray, leave_one_out: bool, seed: int = 0
                      ) -> tuple[float, float, float]:
    """(kNN acc, linear acc, NMI) of one feature set on labelled rows (labels >= 0)."""
    keep = np.asarray(labels) >= 0
    x, y = np.asarray(features)[keep], np.asarray(labels)[keep].astype(np.int64)
    # dense class ids: folders with no usable image would otherwise count as classes
    _, y = np.unique(y, return_inverse=True)
    train, test = stratified_split(y, 0.5, seed)
    if len(test) == 0:
        raise ValueError("every class has a single image: evaluation needs at least 2 images per class")
    if leave_one_out:
        knn = knn_accuracy(x, y)
    else:
        knn = knn_split_accuracy(x[train], y[train], x[test], y[test])
    linear = linear_probe_accuracy(x[train], y[train], x[test], y[test], seed=seed)
    return knn, linear, kmeans_nmi(x, y, seed=seed)
