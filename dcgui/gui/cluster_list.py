"""The cluster list: one row per matched cluster of the current epoch, or per group once the
user merged or split clusters (``dcgui.core.analysis.groups``): a split cluster shows as its parts
("12.1", "12.2"), merged clusters as one row ("g5"). Row ids are the ``GroupView`` codes: the
cluster id for a whole cluster, ``k + j`` for a part or a merge.

Sizes, members and purity are computed once per epoch with numpy (:func:`compute_cluster_stats`)
and shared by the model, the mosaics and the grid. Sorting and filtering are done here on numpy
arrays rather than in a ``QSortFilterProxyModel``, whose comparisons would call back into Python
hundreds of thousands of times for k = 10,000.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHeaderView,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from dcgui.core.analysis.groups import KIND_CLUSTER, KIND_PART, Group, GroupView, display_name
from dcgui.gui.layout import hbox, vbox
from dcgui.gui.session_model import cluster_display_name
from dcgui.gui.thumbnails import (
    AsyncPixmapCache,
    compose_mosaic,
    image_from_jpeg,
    paint_placeholder,
)

ClusterIdRole = Qt.ItemDataRole.UserRole + 1  # matched cluster id (stable across epochs)
MosaicRole = Qt.ItemDataRole.UserRole + 2  # cached 2×2 preview QPixmap, or None (never loads)
SizeRole = Qt.ItemDataRole.UserRole + 3
NameRole = Qt.ItemDataRole.UserRole + 4  # user name or None
TagsRole = Qt.ItemDataRole.UserRole + 5  # list[str]
PurityRole = Qt.ItemDataRole.UserRole + 6  # share of the majority label in [0, 1], or None
MajorityLabelRole = Qt.ItemDataRole.UserRole + 7  # that label's name, or None
NotesRole = Qt.ItemDataRole.UserRole + 8
SortRole = Qt.ItemDataRole.UserRole + 9

COL_CLUSTER, COL_NAME, COL_SIZE, COL_PURITY, COL_TAGS = range(5)
HEADERS = ("Cluster", "Name", "Size", "Purity", "Tags")
EXCLUDED_TITLE = "Excluded"  # the row of images an epoch left out (steering)
MOSAIC_SIDE = 44
ROW_HEIGHT = MOSAIC_SIDE + 6


# ---------------------------------------------------------------------------------------------
# statistics (numpy only)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterStats:
    """Per-cluster numbers of one epoch; arrays are read-only and safe to share with workers."""

    epoch: int
    k: int
    sizes: np.ndarray  # int64 (k,)
    order: np.ndarray  # int64 (n,): image indices grouped by cluster, ascending within a cluster
    starts: np.ndarray  # int64 (k + 1,): members of c are order[starts[c]:starts[c + 1]]
    majority: np.ndarray  # int32 (k,): majority label index, -1 without labelled members
    purity: np.ndarray  # float64 (k,): share of the majority label among labelled members, NaN if none
    has_labels: bool = False
    excluded: int = -1  # the code of the "Excluded" row (images the epoch left out), -1: none
    _previews: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def members(self, c: int) -> np.ndarray:
        return self.order[self.starts[c]:self.starts[c + 1]]

    def preview(self, c: int, n: int = 4) -> np.ndarray:
        """``n`` members spread evenly over the cluster (its first ones would all share a folder)."""
        m = self.members(c)
        if m.size <= n:
            return m
        return m[np.linspace(0, m.size - 1, n).round().astype(np.int64)]


def compute_cluster_stats(epoch: int, assign: np.ndarray, k: int, labels: np.ndarray | None) -> ClusterStats:
    """Sizes, members and label purity of matched assignments ``assign`` (int, length n).

    Images with no cluster (-1: flagged exclude while steering was on) form one more row, the
    "Excluded" one, with code ``k`` (``ClusterStats.excluded``)."""
    a = np.asarray(assign, dtype=np.int64)
    k = max(int(k), int(a.max()) + 1 if a.size else 0)
    excluded = -1
    if a.size and a.min() < 0:
        excluded = k
        a = np.where(a < 0, k, a)
        k += 1
    sizes = np.bincount(a, minlength=k).astype(np.int64)
    order = np.argsort(a, kind="stable").astype(np.int64)
    starts = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    majority = np.full(k, -1, dtype=np.int32)
    purity = np.full(k, np.nan)
    has_labels = labels is not None and labels.size == a.size and bool((labels >= 0).any())
    if has_labels:
        assert labels is not None
        lab = np.asarray(labels, dtype=np.int64)
        ok = lab >= 0
        n_lab = int(lab.max()) + 1
        # Sparse contingency table: k × n_labels may be 10,000 × 1,000, but only n cells are used.
        codes, counts = np.unique(a[ok] * n_lab + lab[ok], return_counts=True)
        cl, lb = codes // n_lab, codes % n_lab
        by = np.lexsort((counts, cl))  # within each cluster, the largest count comes last
        last = np.r_[cl[by][1:] != cl[by][:-1], True]
        top = by[last]
        labelled = np.bincount(a[ok], minlength=k)
        majority[cl[top]] = lb[top]
        purity[cl[top]] = counts[top] / labelled[cl[top]]
    for arr in (sizes, order, starts, majority, purity):
        arr.setflags(write=False)
    return ClusterStats(epoch, k, sizes, order, starts, majority, purity, has_labels, excluded)


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------
class ClusterListModel(QAbstractTableModel):
    """Clusters of one epoch as table rows, in display order (sorted and filtered)."""

    errorOccurred = Signal(str)
    userDataEdited = Signal(int)  # cluster id whose name or tags the user edited inline

    def __init__(self, mosaics: AsyncPixmapCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mosaics = mosaics
        self.stats: ClusterStats | None = None
        self._user: dict[int, dict[str, Any]] = {}
        self._label_names: list[str] = []
        self._rows = np.zeros(0, dtype=np.int64)  # display row -> cluster id
        self._row_of = np.zeros(0, dtype=np.int64)  # cluster id -> display row, -1 if filtered out
        self._sort_column = COL_CLUSTER
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._filter = ""
        self._hide_empty = False
        self.view: GroupView | None = None  # the epoch's merges and splits (None: plain clusters)
        self.set_name: Callable[[int, str | None], bool | None] | None = None  # persist a rename
        self.set_tags: Callable[[int, list[str]], bool | None] | None = None
        mosaics.ready.connect(self._on_mosaics)

    # -- content ------------------------------------------------------------------------------------
    def set_epoch_data(self, stats: ClusterStats | None, user: dict[int, dict[str, Any]], label_names: list[str],
                       view: GroupView | None = None) -> None:
        """``stats`` over the codes of ``view`` (its groups are the rows) or over cluster ids."""
        self.beginResetModel()
        self.stats = stats
        self.view = view
        self._user = dict(user)
        self._label_names = list(label_names)
        self._rebuild_rows()
        self.endResetModel()

    def set_user_data(self, user: dict[int, dict[str, Any]]) -> None:
        """New names/tags/notes from the store; repaint only clusters whose data changed."""
        old, self._user = self._user, dict(user)
        changed = [c for c in set(old) | set(user) if old.get(c) != user.get(c)]
        if self._sort_column in (COL_NAME, COL_TAGS) or self._filter:
            self._relayout()
        for c in changed:
            row = self.row_of_cluster(c)
            if row is not None:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))

    def set_filter(self, text: str, hide_empty: bool | None = None) -> None:
        if hide_empty is not None:
            self._hide_empty = hide_empty
        self._filter = text.strip().lower()
        self.beginResetModel()
        self._rebuild_rows()
        self.endResetModel()

    @property
    def k(self) -> int:
        return 0 if self.stats is None else self.stats.k

    @property
    def has_labels(self) -> bool:
        return self.stats is not None and self.stats.has_labels

    def cluster_at(self, row: int) -> int:
        return int(self._rows[row])

    def row_of_cluster(self, c: int) -> int | None:
        if not 0 <= c < self._row_of.size:
            return None
        row = int(self._row_of[c])
        return None if row < 0 else row

    def is_excluded_row(self, c: int) -> bool:
        """Row ``c`` is the "Excluded" one: images left out of this epoch's clustering."""
        return self.stats is not None and self.stats.excluded >= 0 and int(c) == self.stats.excluded

    def group(self, c: int) -> Group | None:
        """The merge or split part with code ``c`` (None for a whole cluster)."""
        if self.view is None or self.is_excluded_row(c):
            return None
        g = self.view.get(c)
        return None if g is None or g.kind == KIND_CLUSTER else g

    def key(self, c: int) -> str:
        """The key a user types for row ``c``: "12", "12.2" (part 2 of cluster 12), "g5" (a merge)."""
        if self.is_excluded_row(c):
            return "—"
        g = self.group(c)
        return g.key if g is not None else str(c)

    def name(self, c: int) -> str | None:
        if self.is_excluded_row(c):
            return None
        g = self.group(c)
        if g is not None:
            return g.name
        return self._user.get(c, {}).get("name")

    def tags(self, c: int) -> list[str]:
        if self.group(c) is not None or self.is_excluded_row(c):
            return []
        return list(self._user.get(c, {}).get("tags") or [])

    def notes(self, c: int) -> str:
        if self.group(c) is not None or self.is_excluded_row(c):
            return ""
        return str(self._user.get(c, {}).get("notes") or "")

    def majority_label(self, c: int) -> str | None:
        if self.stats is None:
            return None
        m = int(self.stats.majority[c])
        return self._label_names[m] if 0 <= m < len(self._label_names) else None

    def title(self, c: int) -> str:
        """The display name: the user's name when set, else "cluster 12" ("cluster 12 part 2", "group g5")."""
        if self.is_excluded_row(c):
            return EXCLUDED_TITLE
        g = self.group(c)
        return g.title if g is not None else cluster_display_name(c, self.name(c))

    # -- Qt model interface --------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else int(self._rows.size)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return {
                COL_CLUSTER: "Your name for the cluster, else \u201ccluster N\u201d with N its matched number, which stays "
                             "the same across epochs (\u201cN.1\u201d: part 1 of a split). Double-click or F2 to rename",
                COL_NAME: "Your name for the cluster (double-click or F2 to rename)",
                COL_SIZE: "Images in the cluster at this epoch",
                COL_PURITY: "Share of the cluster's most common folder label, and that label",
                COL_TAGS: "Comma-separated tags (double-click to edit)",
            }.get(section)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.row() < self._rows.size and self.is_excluded_row(int(self._rows[index.row()])):
            return f  # not a cluster: nothing to name or tag
        derived = index.row() < self._rows.size and self.group(int(self._rows[index.row()])) is not None
        if index.column() in (COL_CLUSTER, COL_NAME) or (index.column() == COL_TAGS and not derived):
            f |= Qt.ItemFlag.ItemIsEditable
        return f

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or self.stats is None or index.row() >= self._rows.size:
            return None
        c = int(self._rows[index.row()])
        col = index.column()
        s = self.stats
        if role == ClusterIdRole:
            return c
        if role == SizeRole:
            return int(s.sizes[c])
        if role == NameRole:
            return self.name(c)
        if role == TagsRole:
            return self.tags(c)
        if role == NotesRole:
            return self.notes(c)
        if role == PurityRole:
            p = float(s.purity[c])
            return None if np.isnan(p) else p
        if role == MajorityLabelRole:
            return self.majority_label(c)
        if role == MosaicRole:
            return self.mosaics.pixmap((s.epoch, c))
        if role == SortRole:
            return self._sort_value(c, col)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_CLUSTER:
                return self.title(c)  # the one display name (groups.display_name)
            if col == COL_NAME:
                return EXCLUDED_TITLE if self.is_excluded_row(c) else (self.name(c) or "")
            if col == COL_SIZE:
                return f"{int(s.sizes[c]):,}"
            if col == COL_PURITY:
                p = float(s.purity[c])
                return "" if np.isnan(p) else f"{p:.0%} {self.majority_label(c) or ''}".strip()
            if col == COL_TAGS:
                return ", ".join(self.tags(c))
        if role == Qt.ItemDataRole.EditRole:
            if col in (COL_CLUSTER, COL_NAME):
                return self.name(c) or ""
            if col == COL_TAGS:
                return ", ".join(self.tags(c))
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_SIZE,):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and s.sizes[c] == 0:
            return QColor(140, 140, 140)
        if role == Qt.ItemDataRole.ToolTipRole and self.is_excluded_row(c):
            return (f"{int(s.sizes[c]):,} images flagged exclude: epoch {s.epoch} left them out of the clustering "
                    "and the training (steering). Unflag them to bring them back from the next epoch.")
        if role == Qt.ItemDataRole.ToolTipRole:
            g = self.group(c)
            plain = display_name(g.kind if g is not None else KIND_CLUSTER, self.key(c), None)
            head = self.title(c) if self.name(c) is None else f"{self.title(c)} ({plain})"
            lines = [f"{head}: {int(s.sizes[c]):,} images at epoch {s.epoch}"]
            g = self.group(c)
            if g is not None and g.follows:
                # steering keeps a group's images together: it is where they landed, not its old ids
                what = (f"part {int(g.part or 0) + 1} of cluster {g.key.partition('.')[0]}, split"
                        if g.kind == KIND_PART else "merged")
                lines.append(f"{what} by you at epoch {g.made_at}; its images are in cluster "
                             f"{', '.join(str(c) for c in g.clusters)} at this epoch (steering)")
            elif g is not None and g.kind == KIND_PART:
                lines.append(f"part {int(g.part or 0) + 1} of cluster {g.key.partition('.')[0]}, split by you")
            elif g is not None:
                lines.append("merged by you from " + ", ".join(
                    display_name(KIND_PART if u.split is not None else KIND_CLUSTER,
                                 f"{u.cluster}.{int(u.part or 0) + 1}" if u.split is not None else str(u.cluster), None)
                    for u in g.units))
            p = float(s.purity[c])
            if not np.isnan(p):
                lines.append(f"{p:.0%} labelled {self.majority_label(c)}")
            if self.tags(c):
                lines.append("tags: " + ", ".join(self.tags(c)))
            if self.notes(c):
                lines.append(self.notes(c))
            return "\n".join(lines)
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.EditRole or index.column() not in (COL_CLUSTER, COL_NAME, COL_TAGS):
            return False
        if index.column() == COL_CLUSTER:  # the display name column renames (the name column is hidden)
            index = self.index(index.row(), COL_NAME)
        c = self.cluster_at(index.row())
        if self.is_excluded_row(c):
            return False
        text = str(value or "").strip()
        if self.group(c) is not None:  # a part or a merge: its name lives with the group
            if index.column() != COL_NAME or (self.set_name is not None and self.set_name(c, text or None) is False):
                return False
            self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), len(HEADERS) - 1))
            self.userDataEdited.emit(c)
            return True
        entry = dict(self._user.get(c, {"name": None, "tags": [], "notes": ""}))
        try:
            # The persisting callback returns False when it could not save (and said why).
            if index.column() == COL_NAME:
                if self.set_name is not None and self.set_name(c, text or None) is False:
                    return False
                entry["name"] = text or None
            else:
                tags = [t.strip() for t in text.split(",") if t.strip()]
                if self.set_tags is not None and self.set_tags(c, tags) is False:
                    return False
                entry["tags"] = tags
        except Exception as exc:  # a read-only or locked session file: tell the user, keep the old value
            self.errorOccurred.emit(f"Could not save {self.title(c)}: {exc}")
            return False
        self._user[c] = entry
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), len(HEADERS) - 1))
        self.userDataEdited.emit(c)
        return True

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort_column, self._sort_order = column, order
        self._relayout()

    # -- internals ------------------------------------------------------------------------------------
    def _sort_value(self, c: int, col: int) -> object:
        assert self.stats is not None
        if col == COL_SIZE:
            return int(self.stats.sizes[c])
        if col == COL_PURITY:
            p = float(self.stats.purity[c])
            return -1.0 if np.isnan(p) else p
        if col == COL_NAME:
            return (self.name(c) or "").lower()
        if col == COL_TAGS:
            return ", ".join(self.tags(c)).lower()
        return self._key_order(c)

    def _key_order(self, c: int) -> float:
        """Sort the cluster column by what it shows: 12 < 12.1 < 12.2 < 13, merges last."""
        g = self.group(c)
        if g is None:
            return float(c)
        if g.kind == KIND_PART:
            return g.clusters[0] + (int(g.part or 0) + 1) / 1000.0
        return 1e9 + float(g.group_id or 0)

    def _relayout(self) -> None:
        """Re-sort keeping persistent indexes (selection, current row) on their clusters."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        clusters = [(int(self._rows[p.row()]) if 0 <= p.row() < self._rows.size else -1, p.column()) for p in persistent]
        self._rebuild_rows()
        new = []
        for c, col in clusters:
            row = self.row_of_cluster(c) if c >= 0 else None
            new.append(self.index(row, col) if row is not None else QModelIndex())
        self.changePersistentIndexList(persistent, new)
        self.layoutChanged.emit()

    def _rebuild_rows(self) -> None:
        s = self.stats
        if s is None:
            self._rows = np.zeros(0, dtype=np.int64)
            self._row_of = np.zeros(0, dtype=np.int64)
            return
        ids = np.arange(s.k, dtype=np.int64)
        keep = np.ones(s.k, dtype=bool)
        if self.view is not None:  # codes of clusters that were merged or split are no rows
            keep[:] = False
            keep[[g.code for g in self.view.groups if g.code < s.k]] = True
            if s.excluded >= 0:
                keep[s.excluded] = True
        if self._hide_empty:
            keep &= s.sizes > 0
        if self._filter:
            tokens = self._filter.split()
            keep &= np.array([bool(keep[c]) and all(t in self._haystack(c) for t in tokens) for c in range(s.k)],
                             dtype=bool)
        ids = ids[keep]
        col = self._sort_column
        if col == COL_SIZE:
            key: np.ndarray = s.sizes[ids]
        elif col == COL_PURITY:
            key = np.nan_to_num(s.purity[ids], nan=-1.0)
        elif col in (COL_NAME, COL_TAGS):
            texts = [str(self._sort_value(int(c), col)) for c in ids]
            # Unnamed clusters last in ascending order, like a file manager.
            ranks = sorted(range(len(texts)), key=lambda j: (texts[j] == "", texts[j]))
            key = np.empty(len(texts), dtype=np.int64)
            key[np.array(ranks, dtype=np.int64)] = np.arange(len(texts))
        elif self.view is not None and self.view.refined:
            key = np.array([self._key_order(int(c)) for c in ids], dtype=np.float64)
        else:
            key = ids
        by = np.lexsort((ids, key))  # ties broken by cluster id
        if self._sort_order == Qt.SortOrder.DescendingOrder:
            by = np.lexsort((ids, -key.astype(np.float64)))
        self._rows = ids[by]
        if s.excluded >= 0:  # "Excluded" is not a cluster: always the last row
            self._rows = np.concatenate([self._rows[self._rows != s.excluded], self._rows[self._rows == s.excluded]])
        self._row_of = np.full(s.k, -1, dtype=np.int64)
        self._row_of[self._rows] = np.arange(self._rows.size)

    def _haystack(self, c: int) -> str:
        parts = [self.key(c), self.title(c), " ".join(self.tags(c)), self.majority_label(c) or "", self.notes(c)]
        return " ".join(parts).lower()

    def _on_mosaics(self, keys: list[Hashable]) -> None:
        if self.stats is None:
            return
        for key in keys:
            if not isinstance(key, tuple) or key[0] != self.stats.epoch:
                continue
            row = self.row_of_cluster(int(key[1]))
            if row is not None:
                ix = self.index(row, COL_CLUSTER)
                self.dataChanged.emit(ix, ix, [MosaicRole])


def mosaic_loader(get_stats: Callable[[int], ClusterStats | None], thumbnail_jpeg: Callable[[int], bytes],
                  dpr: float) -> Callable[[Any], QImage]:
    """The worker-side function building the mosaic of key ``(epoch, cluster)``."""

    def load(key: Any) -> QImage:
        epoch, c = key
        stats = get_stats(epoch)
        if stats is None:
            raise ValueError(f"epoch {epoch} is no longer loaded")
        images = []
        for i in stats.preview(c):
            try:
                images.append(image_from_jpeg(thumbnail_jpeg(int(i))))
            except (ValueError, OSError, IndexError):
                images.append(QImage())  # one unreadable member leaves its quarter empty
        return compose_mosaic(images, MOSAIC_SIDE, dpr)

    return load


# ---------------------------------------------------------------------------------------------
# view
# ---------------------------------------------------------------------------------------------
class ClusterDelegate(QStyledItemDelegate):
    """Mosaic + id in the first column, a purity bar in the purity column."""

    def __init__(self, mosaics: AsyncPixmapCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mosaics = mosaics

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        col = index.column()
        if col not in (COL_CLUSTER, COL_PURITY):
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text  # type: ignore[attr-defined]
        opt.text = ""  # type: ignore[attr-defined]
        widget = opt.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)  # background, selection
        rect = QRect(opt.rect)  # type: ignore[attr-defined]
        palette: QPalette = opt.palette  # type: ignore[attr-defined]
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        text_colour = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        painter.save()
        if col == COL_CLUSTER:
            side = min(MOSAIC_SIDE, rect.height() - 4)
            box = QRect(rect.left() + 3, rect.top() + (rect.height() - side) // 2, side, side)
            model = index.model()
            stats = model.stats if isinstance(model, ClusterListModel) else None
            c = index.data(ClusterIdRole)
            size = index.data(SizeRole) or 0
            if stats is not None and size > 0:
                pixmap = self.mosaics.request((stats.epoch, c))
                if pixmap is not None:
                    painter.drawPixmap(box, pixmap)
                else:
                    paint_placeholder(painter, box, palette)
            else:
                paint_placeholder(painter, box, palette)
            painter.setPen(text_colour)
            painter.drawText(rect.adjusted(side + 10, 0, -2, 0), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), text)
        else:
            p = index.data(PurityRole)
            if p is not None:
                bar = QRectF(rect.left() + 4, rect.bottom() - 7, (rect.width() - 8) * float(p), 3)
                colour = QColor.fromHsvF(0.33 * float(p), 0.65, 0.8)  # red (mixed) → green (pure)
                painter.fillRect(QRectF(rect.left() + 4, rect.bottom() - 7, rect.width() - 8, 3), palette.color(QPalette.ColorRole.Midlight))
                painter.fillRect(bar, colour)
                painter.setPen(text_colour)
                fm = QFontMetrics(opt.font)  # type: ignore[attr-defined]
                elided = fm.elidedText(text, Qt.TextElideMode.ElideRight, rect.width() - 8)
                painter.drawText(rect.adjusted(4, 0, -4, -6), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), elided)
        painter.restore()

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        """Fill an editor once: a mosaic arriving for the row being renamed (a dataChanged on the
        cluster column) must not put the old name back over what the user is typing."""
        if editor.property("dcgui_filled"):
            return
        editor.setProperty("dcgui_filled", True)
        super().setEditorData(editor, index)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        hint = super().sizeHint(option, index)
        if index.column() == COL_CLUSTER:
            hint.setWidth(max(hint.width() + MOSAIC_SIDE + 12, 96))
        return QSize(hint.width(), ROW_HEIGHT)


class ClusterListView(QTableView):
    """The cluster table: fixed row height (fast at k = 10,000), sortable, multi-selection."""

    def __init__(self, model: ClusterListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self._delegate = ClusterDelegate(model.mosaics, self)
        self.setItemDelegate(self._delegate)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.setSortingEnabled(True)
        self.sortByColumn(COL_CLUSTER, Qt.SortOrder.AscendingOrder)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vh = self.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # O(1) row geometry for 10k rows
        vh.setDefaultSectionSize(ROW_HEIGHT)
        hh = self.horizontalHeader()
        hh.setHighlightSections(False)
        hh.setStretchLastSection(True)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in ((COL_CLUSTER, MOSAIC_SIDE + 130), (COL_NAME, 100), (COL_SIZE, 56), (COL_PURITY, 104)):
            self.setColumnWidth(col, width)
        model.mosaics.wanted = self._mosaic_wanted
        model.modelReset.connect(self._update_columns)
        self._update_columns()

    def cluster_model(self) -> ClusterListModel:
        model = self.model()
        assert isinstance(model, ClusterListModel)
        return model

    def selected_clusters(self) -> list[int]:
        model = self.cluster_model()
        rows = sorted({ix.row() for ix in self.selectionModel().selectedRows()})
        return [model.cluster_at(r) for r in rows]

    def _update_columns(self) -> None:
        self.setColumnHidden(COL_NAME, True)  # the cluster column shows (and edits) the one display name
        self.setColumnHidden(COL_PURITY, not self.cluster_model().has_labels)

    def _mosaic_wanted(self, key: Hashable) -> bool:
        model = self.cluster_model()
        if model.stats is None or not isinstance(key, tuple) or key[0] != model.stats.epoch or not self.isVisible():
            return False
        row = model.row_of_cluster(int(key[1]))
        if row is None:
            return False
        y = self.rowViewportPosition(row)
        h = self.viewport().height()
        return -h - ROW_HEIGHT <= y <= 2 * h


class ClusterListPanel(QWidget):
    """Filter box + "hide empty" + the cluster table."""

    def __init__(self, model: ClusterListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter clusters: id, name, tag, label…")
        self.filter_edit.setClearButtonEnabled(True)
        self.hide_empty = QCheckBox("Hide empty", self)
        self.hide_empty.setToolTip("Hide clusters with no image at this epoch")
        self.view = ClusterListView(model, self)
        vbox(hbox((self.filter_edit, 1), self.hide_empty, margins=0), (self.view, 1), parent=self, margins=0)
        self.filter_edit.textChanged.connect(self._apply)
        self.hide_empty.toggled.connect(self._apply)

    def _apply(self) -> None:
        self.model.set_filter(self.filter_edit.text(), self.hide_empty.isChecked())
