"""Typed events yielded by long-running engine generators.

The same generator drives the command line (progress bars) and the GUI (a worker thread that
re-emits each event as a Qt signal). Events are small frozen dataclasses; arrays inside them are
owned by the receiver (the engine never mutates them after yielding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Phases of work. Training's, in the order they occur:
PHASE_SCAN = "scan"  # listing files
PHASE_CACHE = "cache"  # decoding images into the cache
PHASE_FEATURES = "features"
PHASE_CLUSTERING = "clustering"
PHASE_TRAINING = "training"
PHASES = (PHASE_SCAN, PHASE_CACHE, PHASE_FEATURES, PHASE_CLUSTERING, PHASE_TRAINING)
# ... and of the other long steps.
PHASE_NEIGHBOURS = "neighbours"
PHASE_OUTLIERS = "outliers"
PHASE_MAP = "map"
PHASE_MAP_GRAPH = "map_graph"  # the 2-D map before UMAP's epochs: PCA, neighbours, graph, first layout
PHASE_EVAL = "evaluation"
PHASE_CURATE = "curate"
PHASE_EMBED = "embed"
PHASE_SIGNATURES = "signatures"  # near-duplicates: pixel signatures of the thumbnails
PHASE_PAIRS = "pairs"  # near-duplicates: comparing candidate pairs
PHASE_PAIRS_GROUPS = "pairs-groups"  # near-duplicates: the pairs no index proposed inside small groups
PHASE_METRICS = "metrics"  # AMI of epochs trained before it was recorded
PHASE_REPORT = "report"  # dcgui report / compare: writing the HTML
PHASE_FIRST_LOOK = "first_look"  # while decoding: clustering the images decoded so far


@dataclass(frozen=True)
class PhaseLabel:
    """How a phase is named to the user: ``text`` in the window, ``short`` and ``unit`` on a
    terminal progress bar."""

    text: str
    short: str
    unit: str


PHASE_LABELS = {
    PHASE_SCAN: PhaseLabel("Scanning the folder", "scanning files", "files"),
    PHASE_CACHE: PhaseLabel("Decoding images into the cache", "decoding images", "img"),
    PHASE_FEATURES: PhaseLabel("Computing features", "features", "img"),
    PHASE_CLUSTERING: PhaseLabel("k-means clustering", "k-means", "step"),
    PHASE_TRAINING: PhaseLabel("Training", "training", "img"),
    PHASE_NEIGHBOURS: PhaseLabel("Finding neighbours", "neighbours", "img"),
    PHASE_OUTLIERS: PhaseLabel("Scoring outliers", "outliers", "step"),
    PHASE_MAP_GRAPH: PhaseLabel("2-D map: neighbour graph and first layout", "map graph", "step"),
    PHASE_MAP: PhaseLabel("2-D map: optimising the layout", "2-D map", "img"),
    PHASE_EVAL: PhaseLabel("Evaluating", "evaluation", "step"),
    PHASE_CURATE: PhaseLabel("Curating", "curating", "files"),
    PHASE_EMBED: PhaseLabel("Embedding", "embedding", "img"),
    PHASE_SIGNATURES: PhaseLabel("Reading thumbnails", "signatures", "img"),
    PHASE_PAIRS: PhaseLabel("Comparing images", "comparing pairs", "pair"),
    PHASE_PAIRS_GROUPS: PhaseLabel("Comparing the rest of each group", "completing groups", "pair"),
    PHASE_METRICS: PhaseLabel("Computing AMI of earlier epochs", "AMI", "epoch"),
    PHASE_REPORT: PhaseLabel("Writing the report", "report", "step"),
    PHASE_FIRST_LOOK: PhaseLabel("First look: clustering the images decoded so far", "first look", "img"),
}


def phase_label(phase: str) -> PhaseLabel:
    return PHASE_LABELS.get(phase) or PhaseLabel(phase, phase, "it")


@dataclass(frozen=True)
class Event:
    """Base class of every engine event."""


@dataclass(frozen=True)
class PhaseProgress(Event):
    """``done`` of ``total`` units of ``phase`` (images, or k-means iterations) in ``epoch``.

    ``epoch`` is 0 for phases outside the epoch loop (scan, cache).
    """

    phase: str
    done: int
    total: int
    epoch: int = 0
    images_per_second: float = 0.0


@dataclass(frozen=True)
class Message(Event):
    """Something the user should read: level is "info", "warning" or "error"."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class CollectionReady(Event):
    """The collection is scanned and decoded; ``n_images`` are usable, ``skipped`` are not."""

    n_images: int
    skipped: tuple[tuple[str, str], ...] = ()  # (relative path, reason)
    n_labels: int = 0  # number of distinct ground-truth labels (0: no labels)


@dataclass(frozen=True)
class EpochMetrics:
    """Everything measured in one epoch. ``None`` where a value does not exist (no labels, epoch 1)."""

    epoch: int
    nmi_prev: float | None  # NMI(assignments of t-1, t), geometric normalisation (paper Fig. 2b)
    nmi_labels: float | None  # NMI against ground-truth labels (paper Fig. 2a)
    ari_labels: float | None
    loss: float  # mean training cross-entropy on the pseudo-labels
    kmeans_objective: float  # faiss k-means final objective (sum of squared distances)
    k: int
    empty_clusters: int
    min_cluster: int  # smallest non-empty cluster
    max_cluster: int
    size_entropy: float  # entropy of the cluster-size distribution, normalised to [0, 1]
    seconds_features: float
    seconds_clustering: float
    seconds_training: float
    images_per_second: float  # images processed by features + training per wall second
    n_images: int = 0
    # adjusted mutual information (chance-corrected, ``dcgui.core.analysis.ami``); None where it
    # does not exist, or not yet computed for an epoch trained before it existed
    ami_prev: float | None = None
    ami_labels: float | None = None
    # Steering (issue 24): what this epoch's clustering respected of the person's corrections.
    excluded: int = 0  # images flagged exclude: no cluster, no pseudo-label, not trained on
    merges_applied: int = 0  # merged groups whose images got one pseudo-label (must-link)
    splits_applied: int = 0  # split clusters whose parts got different pseudo-labels (cannot-link)
    steered_images: int = 0  # images whose pseudo-label the merges and splits changed

    @property
    def constraints(self) -> int:
        return self.merges_applied + self.splits_applied

    @property
    def seconds(self) -> float:
        return self.seconds_features + self.seconds_clustering + self.seconds_training

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["seconds"] = self.seconds
        return d


def steering_summary(m: EpochMetrics) -> str:
    """What an epoch's clustering respected of the person's corrections, in one line (the
    command line and the window say the same)."""
    def count(n: int, word: str) -> str:
        return f"{n:,} {word}{'s' if n != 1 else ''}"

    text = (f"{count(m.excluded, 'image')} excluded, {count(m.merges_applied, 'merge')} and "
            f"{count(m.splits_applied, 'split')} applied")
    if m.constraints:
        text += f" ({count(m.steered_images, 'image')} moved to respect them)"
    return text


@dataclass(frozen=True)
class EpochFinished(Event):
    """Epoch ``metrics.epoch`` is trained and checkpointed.

    ``assign_raw``: k-means id per image (int32, row i = image i of the collection; -1 for an
    image left out of the clustering, i.e. flagged exclude with steering on).
    ``assign_matched``: display identity per image, matched to the previous epoch's (Hungarian).
    ``mapping``: ``mapping[raw_id] = matched_id`` (int32, length k).
    """

    metrics: EpochMetrics
    assign_raw: np.ndarray
    assign_matched: np.ndarray
    mapping: np.ndarray
    checkpoint_path: str = ""
    checkpoint_sha256: str = ""


@dataclass(frozen=True, eq=False)
class FirstLook(Event):
    """A provisional clustering made while the images are still being decoded (issue 22).

    The untrained network of epoch 0 (the random initialisation, or the ``--init`` backbone)
    embeds the ``n_decoded`` images decoded so far; PCA-whitening + L2 + k-means as in an epoch
    cluster them into ``k`` clusters. It is no epoch: nothing is trained, nothing is stored, and
    epoch 1 (all images) replaces it. ``index`` counts the first looks of this run (1, 2, ...).

    ``images``: record positions (int64, ascending) in the scan's order, *not* session image
    indices (a file that fails to decode later has none); ``relpaths`` their files; ``assign``
    their cluster (int32, 0..k-1, row i = ``images[i]``); ``examples[c]``: up to
    ``FIRST_LOOK_EXAMPLES`` positions of cluster ``c``, nearest its centre first;
    ``thumbnails``: JPEG bytes of every example (the cache's thumbnails).
    ``seconds``: since preparing the collection began (the scan included).
    """

    index: int
    n_decoded: int
    n_total: int
    k: int
    # the per-image fields stay out of the repr (a test failure would print megabytes)
    images: np.ndarray = field(repr=False)
    relpaths: tuple[str, ...] = field(repr=False)
    assign: np.ndarray = field(repr=False)
    examples: tuple[tuple[int, ...], ...] = field(repr=False)
    thumbnails: dict[int, bytes] = field(repr=False)
    seconds: float = 0.0
    seconds_clustering: float = 0.0  # features + PCA + k-means of this look

    def sizes(self) -> np.ndarray:
        """Images per cluster (int64, length k)."""
        return np.bincount(self.assign, minlength=self.k)


def first_look_summary(ev: FirstLook) -> str:
    """One line about a first look (the command line and the window say the same)."""
    sizes = np.sort(ev.sizes())[::-1]
    top = ", ".join(f"{int(s):,}" for s in sizes[:3])
    return (f"First look {ev.index}: the untrained network's {ev.k} clusters of {ev.n_decoded:,} of "
            f"{ev.n_total:,} images decoded so far (largest {top}) after {ev.seconds:.1f} s; "
            "training starts when all are decoded")


@dataclass(frozen=True)
class CheckpointWritten(Event):
    epoch: int
    path: str
    sha256: str


@dataclass(frozen=True)
class Paused(Event):
    epoch: int


@dataclass(frozen=True)
class Resumed(Event):
    epoch: int


@dataclass(frozen=True)
class Stopped(Event):
    """The user stopped; ``last_completed_epoch`` is saved and the run can be resumed from it."""

    last_completed_epoch: int


@dataclass(frozen=True)
class Finished(Event):
    """All requested epochs are done."""

    last_completed_epoch: int
    extra: dict[str, Any] = field(default_factory=dict)
