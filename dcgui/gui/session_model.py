"""The session view-model: the one state the whole window follows.

After napari's pattern (``napari/components`` + ``_qt/widgets/qt_dims.py``): every view takes this
model in ``__init__``, connects to its signals and shows what it says; a view changes the state
only by calling the model's methods, never another view. So one click travels

    widget signal -> view slot -> SessionModel.method() -> (SessionStore write) -> model signal
    -> every subscribed view redraws

and a newcomer finds every piece of shared state (and every user edit of the session file) here.

State held: the open session (``store``, ``path``, ``readonly``), the epochs it holds
(``last_epoch``), the epoch shown (``epoch``), whether to jump to each new epoch
(``follow_live``), the training state, the image selection shared by every image list and the
map (``selection``, ``selection_source``, ``current_image``), the active cluster and the selected
clusters, and caches of the user data the views paint (image flags, cluster names/tags/notes,
named groups of images, the merges and splits of the epoch shown: ``group_view``).

Every user edit goes through ``apply_edit`` (or a method built on it): the store logs it, so
``undo`` / ``redo`` (Edit menu, Ctrl+Z / Ctrl+Shift+Z) take back any of them, also after the
session was closed and reopened. Views that change more than one image show the store's preview
first (``dcgui.gui.edit_confirm``).

The shared fields live in ``ViewState``, a psygnal evented dataclass: one signal per field, fired
only when an assignment changes the value; each is relayed to the Qt signal views connect to
(``_FIELD_SIGNALS``). This module imports only QtCore and psygnal: no widget, no painting,
testable without a window.
The store is the GUI thread's writable connection; nothing here reads more than small tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from psygnal import SignalGroup, evented
from PySide6.QtCore import QObject, Signal

from dcgui.core.analysis.groups import KIND_CLUSTER, display_name
from dcgui.core.errors import DcguiError
from dcgui.services.clusters import (
    dissolve_group_edit,
    image_group_edit,
    image_group_name,
    note_cluster_edit,
    rename_cluster_edit,
    rename_group_edit,
    tag_cluster_edit,
)
from dcgui.services.edits import merge_edit, undo_or_redo
from dcgui.services.flags import flag_edit, flags_text

if TYPE_CHECKING:
    from dcgui.core.analysis.groups import Group, GroupView
    from dcgui.core.events import FirstLook
    from dcgui.gui.worker import GeneratorWorker, WorkerError
    from dcgui.store import AppliedEdit, SessionStore
    from dcgui.store.editlog import EditRecord
    from dcgui.store.edits import Edit, EditPreview

IDLE, RUNNING, PAUSED, STOPPING = "idle", "running", "paused", "stopping"  # training states
SOURCES = ("grid", "cluster", "map", "similar", "duplicates", "outliers", "group", "river")


class Selection(NamedTuple):
    indices: tuple[int, ...] = ()
    source: str = ""  # "" when nothing is selected


@evented
@dataclass
class ViewState:
    """The view-model's shared fields. psygnal gives each field one signal (``events.<field>``)
    that fires when an assignment changes its value (equal values: no signal)."""

    events: ClassVar[SignalGroup]  # made by @evented (declared for the type checker)

    last_epoch: int = 0
    epoch: int = 0
    follow: bool = True
    training: str = IDLE
    selection: Selection = field(default_factory=Selection)
    current_image: int | None = None
    active_cluster: int | None = None
    clusters: tuple[int, ...] = ()


# Each field's Qt signal, under the name the views connect to (Qt signals reach views in the GUI
# thread through queued connections, and tests wait on them with qtbot).
_FIELD_SIGNALS = {"last_epoch": "epochsChanged", "epoch": "epochChanged", "follow": "followChanged",
                  "training": "trainingStateChanged", "selection": "selectionChanged",
                  "current_image": "currentImageChanged", "active_cluster": "activeClusterChanged",
                  "clusters": "clusterSelectionChanged"}


# Where a selection was made, as the views say it ("191 images chosen on the map").
SOURCE_TEXT = {"map": "on the map", "similar": "in Similar", "duplicates": "in a duplicate group",
               "outliers": "among the outliers", "group": "in a named group", "grid": "in the grid",
               "cluster": "in the cluster", "river": "in a band of the cluster river"}


def describe_selection(n: int, total: int, source: str) -> str:
    """What a bulk action acts on, naming where the selection came from: "the 191 images chosen
    on the map", or "20 of the 191 images chosen on the map" when only 20 of them are here."""
    where = SOURCE_TEXT.get(source, "elsewhere")
    if n >= total:
        return f"the {total:,} image{'s' if total != 1 else ''} chosen {where}" if total != 1 else \
            f"the image chosen {where}"
    return f"{n:,} of the {total:,} images chosen {where}"


def cluster_display_name(c: int, name: str | None) -> str:
    """The one name a cluster goes by everywhere (``groups.display_name``): the user's name when
    set, else "cluster 5"."""
    return display_name(KIND_CLUSTER, str(int(c)), name)


# Edits that can be large are applied on a worker (a bulk flag of 100,000 images took 3.3 s on
# the GUI thread, its undo 2.2 s): every flag edit of more than one image, merges, splits,
# dissolving one, and named groups once the stored groups hold this many images. The rest (a
# cluster's name, one image's flag, "not duplicates") is one small row: applied at once.
WORKER_KINDS = ("merge", "split", "dissolve")
GROUPS_ON_WORKER = 2000


@dataclass(frozen=True)
class UserData:
    """The user data a view paints, read in one go (on a worker after a large edit). ``flags``
    None: not read (the edit log says no edit happened since the last read)."""

    flags: dict[int, str] | None
    flags_changed: list[int]  # images whose flag differs from the flags the read started from
    user: dict[int, dict[str, Any]]
    groups: dict[str, list[int]] | None
    gsig: object
    undo_redo: tuple[EditRecord | None, EditRecord | None]
    token: tuple[int, ...]


def groups_signature(store: SessionStore) -> object:
    """What the stored merges and splits look like (compared to notice a change)."""
    splits, merges = store.cluster_groups()
    # with steering on, earlier groups are shown where their members landed: the switch regroups
    return ([(x.id, x.epoch, x.cluster, x.names) for x in splits], [(m.id, m.epoch, m.units, m.name) for m in merges],
            store.config.steer)


def read_user_data(store: SessionStore, base_flags: dict[int, str], token_seen: tuple[int, ...] | None = None,
                   flags: bool = True, groups: bool = True) -> UserData:
    """Read the user data; the image flags and the named groups (100k rows each at scale) only
    when asked and the edit log moved on since ``token_seen``. Runs on any thread."""
    token = store.edit_log_token()
    moved = token != token_seen
    new_flags = store.image_flags() if flags and moved else None
    changed: list[int] = []
    if new_flags is not None:
        changed = sorted(i for i in set(new_flags) | set(base_flags) if new_flags.get(i) != base_flags.get(i))
    new_groups = store.image_groups() if groups and moved else None
    return UserData(new_flags, changed, store.cluster_user_data(), new_groups, groups_signature(store),
                    store.next_undo_redo(), token)


class PendingEdit:
    """An edit on its way to the session file. ``then(fn)`` calls ``fn(result)`` in the GUI
    thread once it has landed (at once when it has): the ``AppliedEdit`` (for undo / redo, the
    records done), or None when it failed (the model said why)."""

    def __init__(self, summary: str) -> None:
        self.summary = summary
        self.done = False
        self.result: Any = None
        self._then: list[Callable[[Any], Any]] = []

    def then(self, fn: Callable[[Any], Any]) -> PendingEdit:
        if self.done:
            fn(self.result)
        else:
            self._then.append(fn)
        return self

    def resolve(self, result: Any) -> None:
        self.done, self.result = True, result
        callbacks, self._then = self._then, []
        for fn in callbacks:
            fn(result)


def deliver(result: Any, fn: Callable[[Any], Any]) -> None:
    """``fn(result)`` once ``result`` has landed: a ``PendingEdit`` calls it when its worker is
    done, anything else (a store's own ``apply_edit`` in tests) at once."""
    if isinstance(result, PendingEdit):
        result.then(fn)
    else:
        fn(result)


class SessionModel(QObject):
    """The window's shared state. Signals carry what changed; read the rest from properties.

    The signals of ``ViewState``'s fields (``state.events.<field>``) are relayed to the Qt signals
    marked (field) below; the others are events, emitted by the methods.

    * ``sessionChanged()``: another session was opened (or none); everything is reset.
    * ``epochsChanged(int)`` (last_epoch): the store holds a new number of epochs (the argument).
    * ``epochChanged(int)`` (epoch): the epoch shown in every tab.
    * ``followChanged(bool)`` (follow): follow-live switched.
    * ``trainingStateChanged(str)`` (training): idle / running / paused / stopping.
    * ``collectionChanged()``: the images were (re)scanned and the image cache is ready.
    * ``selectionChanged()`` (selection): ``selection`` / ``selection_source`` changed.
    * ``currentImageChanged(object)`` (current_image): the image shown in the image pane (int or None).
    * ``activeClusterChanged(object)`` (active_cluster): the cluster shown in the grid (int or None).
    * ``clusterSelectionChanged(list)`` (clusters): the clusters selected in the list.
    * ``flagsChanged(list)``: image indices whose flag changed.
    * ``clusterDataChanged(list)``: cluster ids whose name, tags or notes changed.
    * ``groupsChanged()``: named groups were added, changed or removed.
    * ``clusterGroupsChanged()``: merges or splits changed (``group_view`` is new).
    * ``editsChanged()``: the edit log changed (what undo / redo would do: ``next_undo_redo``).
    * ``editBusyChanged(bool)``: a large edit is being applied on a worker (True) or has landed;
      meanwhile every other edit, undo and redo is refused with a message (``edit_busy``).
    * ``similarRequested(int)``: "More like this" on an image.
    * ``message(str)``: a short status line; ``errorOccurred(str)``: a failed write, said to the user.
    * ``firstLookChanged(object)``: the first look shown while a new session's images decode
      (a ``FirstLook`` event), or None once epoch 1 (or another session) replaces it.
    """

    sessionChanged = Signal()
    epochsChanged = Signal(int)
    epochChanged = Signal(int)
    followChanged = Signal(bool)
    trainingStateChanged = Signal(str)
    collectionChanged = Signal()
    selectionChanged = Signal()
    currentImageChanged = Signal(object)
    activeClusterChanged = Signal(object)
    clusterSelectionChanged = Signal(list)
    flagsChanged = Signal(list)
    clusterDataChanged = Signal(list)
    groupsChanged = Signal()
    clusterGroupsChanged = Signal()
    editsChanged = Signal()
    editBusyChanged = Signal(bool)
    similarRequested = Signal(int)
    message = Signal(str)
    errorOccurred = Signal(str)
    firstLookChanged = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store: SessionStore | None = None
        self._path: Path | None = None
        self._readonly = False
        self.state = ViewState()
        for name, signal in _FIELD_SIGNALS.items():
            self.state.events[name].connect(partial(self._relay, signal))
        self._flags: dict[int, str] = {}
        self._path_index: dict[str, int] | None = None
        self._user: dict[int, dict[str, Any]] = {}
        self._groups: dict[str, list[int]] = {}
        self._paths: list[str] = []
        self._syncing = False
        self._gview: GroupView | None = None
        self._gsig: object = None  # what the stored merges and splits looked like last time
        self._undo_redo: tuple[EditRecord | None, EditRecord | None] = (None, None)
        # Not a ViewState field: it holds arrays (no cheap equality) and it is no epoch; kept in
        # memory only (docs/ARCHITECTURE.md, "First looks").
        self._first_look: FirstLook | None = None
        self._token: tuple[int, ...] | None = None  # the edit log as last read (edit_log_token)
        self._edit_job: GeneratorWorker | None = None  # the large edit being applied
        self._edit_pending: PendingEdit | None = None

    def _relay(self, signal: str, value: object) -> None:
        if signal == "selectionChanged":
            self.selectionChanged.emit()
        elif signal == "clusterSelectionChanged":
            self.clusterSelectionChanged.emit(list(value))  # type: ignore[call-overload]
        else:
            getattr(self, signal).emit(value)

    # =========================================================================================
    # session
    # =========================================================================================
    @property
    def store(self) -> SessionStore | None:
        return self._store

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def writable(self) -> bool:
        return self._store is not None and not self._readonly

    @property
    def n_images(self) -> int:
        return len(self._paths)

    @property
    def paths(self) -> list[str]:
        """Image paths relative to the session's folder, by image index (do not modify)."""
        return self._paths

    def open(self, store: SessionStore | None, readonly: bool = False) -> None:
        """Show ``store`` (None: no session). Views reset on ``sessionChanged``."""
        self._store = store
        self._path = Path(store.path) if store is not None else None
        self._readonly = bool(readonly or (store is not None and getattr(store, "readonly", False)))
        last = store.last_epoch() if store is not None else 0
        with self.state.events.blocked():  # views hear sessionChanged first, then the fields
            self.state.last_epoch, self.state.epoch, self.state.follow = last, last, True
            self.state.selection, self.state.current_image = Selection(), None
            self.state.active_cluster, self.state.clusters = None, ()
        self._read_user_data()
        self._first_look = None
        self.sessionChanged.emit()
        self.firstLookChanged.emit(None)
        self.followChanged.emit(True)
        self.epochsChanged.emit(last)
        self.epochChanged.emit(last)

    def close(self) -> None:
        self.open(None)

    def _read_user_data(self) -> None:
        s = self._store
        self._paths = s.image_paths() if s is not None else []
        self._path_index = None  # path -> image index, built at the first flag edit
        self._flags = s.image_flags() if s is not None else {}
        self._user = s.cluster_user_data() if s is not None else {}
        self._groups = s.image_groups() if s is not None else {}
        self._gview, self._gsig = None, groups_signature(s) if s is not None else None
        self._undo_redo = s.next_undo_redo() if s is not None else (None, None)
        self._token = s.edit_log_token() if s is not None else None
        self.editsChanged.emit()

    def _sync_user_data(self, flags: bool = True, groups: bool = True) -> None:
        """Re-read the user data after an edit, an undo or another connection's commit, and tell
        the views only what changed. The flags and named groups are re-read only when the edit
        log moved on (False: the caller knows they did not change, or updated them itself)."""
        s = self._store
        if s is None:
            return
        self._install(read_user_data(s, self._flags, self._token, flags, groups))

    def _install(self, data: UserData) -> None:
        """Take ``data`` (read here or on a worker) and tell the views what changed."""
        if data.flags is not None:
            self._flags = data.flags
            if data.flags_changed:
                self.flagsChanged.emit(data.flags_changed)
        changed = [c for c in set(data.user) | set(self._user) if data.user.get(c) != self._user.get(c)]
        self._user = data.user
        regroup = data.gsig != self._gsig
        if changed or regroup:
            self._gview = None  # group titles include cluster names
        self._gsig = data.gsig
        if regroup:
            self.clusterGroupsChanged.emit()
        if changed:
            self.clusterDataChanged.emit(sorted(changed))
        if data.groups is not None and data.groups != self._groups:
            self._groups = data.groups
            self.groupsChanged.emit()
        self._token = data.token
        undo_redo = data.undo_redo
        if [r.id if r else None for r in undo_redo] != [r.id if r else None for r in self._undo_redo]:
            self._undo_redo = undo_redo
            self.editsChanged.emit()

    def collection_ready(self) -> None:
        """The trainer (re)scanned the folder and built the image cache: re-read the images."""
        if self._store is None:
            return
        self._read_user_data()
        self.collectionChanged.emit()
        self.flagsChanged.emit(sorted(self._flags))

    def refresh(self) -> None:
        """Another connection committed (our trainer, ``dcgui train``, a second window): re-read
        the epoch count and the user data, and tell the views only what changed."""
        s = self._store
        if s is None or self._syncing:
            return
        self._syncing = True  # a view's slot may call back into the model: no re-entry
        try:
            if s.n_images_now() != len(self._paths):  # a rescan by another process
                self._paths = s.image_paths()
                self._path_index = None
            last = s.last_epoch()
            if last > 0:
                self.set_first_look(None)  # epoch 1 replaces the first look
            if last != self.last_epoch:
                self.state.last_epoch = last
                if self.follow_live or self.epoch == 0 or self.epoch > last:
                    self._set_epoch(last)
            if self._edit_job is None:  # else the edit's worker reads them once it has landed
                self._sync_user_data()
        finally:
            self._syncing = False

    # =========================================================================================
    # first look (while a new session's images decode)
    # =========================================================================================
    @property
    def first_look(self) -> FirstLook | None:
        return self._first_look

    def set_first_look(self, look: FirstLook | None) -> None:
        """Show ``look`` (the trainer's latest) until epoch 1 exists; None: show none."""
        if look is not None and (self._store is None or self.last_epoch > 0):
            look = None  # the session has trained epochs: they are what the window shows
        if look is self._first_look:
            return
        self._first_look = look
        self.firstLookChanged.emit(look)

    # =========================================================================================
    # epochs
    # =========================================================================================
    @property
    def last_epoch(self) -> int:
        return self.state.last_epoch

    @property
    def epoch(self) -> int:
        """The epoch shown in every tab (0: none yet)."""
        return self.state.epoch

    def set_epoch(self, epoch: int) -> None:
        """The user chose ``epoch``: going back in time stops following, the newest keeps it."""
        if self._store is None:
            return
        epoch = int(epoch)
        if epoch > self.last_epoch:
            # A view read the store after a commit we have not seen yet: catch up first, so a
            # new epoch is not mistaken for the user leaving the newest one.
            self.refresh()
        if not 1 <= epoch <= self.last_epoch:
            return
        if epoch < self.last_epoch and self.follow_live:
            self.set_follow_live(False)
        self._set_epoch(epoch)

    def _set_epoch(self, epoch: int) -> None:
        if epoch != self.state.epoch:
            self._gview = None
            self.state.epoch = epoch

    @property
    def follow_live(self) -> bool:
        return self.state.follow

    def set_follow_live(self, on: bool) -> None:
        self.state.follow = bool(on)
        if on and self.last_epoch:
            self._set_epoch(self.last_epoch)

    # =========================================================================================
    # training state (set by the training panel, read by everyone else)
    # =========================================================================================
    def set_training_state(self, state: str) -> None:
        self.state.training = state

    @property
    def training(self) -> bool:
        return self.state.training != IDLE

    def set_target_epochs(self, epochs: int) -> bool:
        """Save the session's "train until epoch" setting (a running trainer is told separately,
        through its RunControl; this keeps the file's target true for the next run and for the
        start page)."""
        s = self._store
        if s is None or not self._check_writable():
            return False
        try:
            s.set_config(s.config.replace(epochs=int(epochs)))
        except Exception as exc:
            self.errorOccurred.emit(f"Could not save the target of {epochs} epochs in {s.path.name}: {exc}")
            return False
        return True

    # =========================================================================================
    # selection of images (shared by the grid, the map, similar, duplicates, outliers)
    # =========================================================================================
    @property
    def selection(self) -> tuple[int, ...]:
        """Selected image indices, in the order the selecting view lists them."""
        return self.state.selection.indices

    @property
    def selection_source(self) -> str:
        """Which view made the selection: one of ``SOURCES`` ("" when nothing is selected)."""
        return self.state.selection.source

    def select_images(self, indices: Iterable[int], source: str, current: int | None = None) -> None:
        """Select ``indices`` (made by view ``source``); the image pane shows ``current`` (default:
        the current image if it is still selected, else the first selected one)."""
        if source not in SOURCES:
            raise ValueError(f"selection source {source!r} is unknown: use one of {', '.join(SOURCES)}")
        n = len(self._paths)
        sel = tuple(dict.fromkeys(int(i) for i in indices if 0 <= int(i) < n))  # unique, in order
        self.state.selection = Selection(sel, source if sel else "")
        if current is None:
            current = self.current_image if self.current_image in sel else (sel[0] if sel else None)
        if current is not None or not sel:
            self.set_current_image(current)

    def clear_selection(self) -> None:
        self.select_images((), "grid")

    @property
    def current_image(self) -> int | None:
        return self.state.current_image

    def set_current_image(self, i: int | None) -> None:
        i = None if i is None or not 0 <= int(i) < len(self._paths) else int(i)
        self.state.current_image = i

    def request_similar(self, i: int) -> None:
        """"More like this": the Explore panel answers, the window shows it."""
        if self._store is not None and 0 <= int(i) < len(self._paths):
            self.similarRequested.emit(int(i))

    # =========================================================================================
    # clusters
    # =========================================================================================
    @property
    def active_cluster(self) -> int | None:
        return self.state.active_cluster

    def set_active_cluster(self, c: int | None) -> None:
        """Show cluster ``c`` in the grid: a matched cluster id (stable across epochs) or, for a
        part or a merge of the user's, its ``group_view`` code."""
        self.state.active_cluster = None if c is None else int(c)

    @property
    def selected_clusters(self) -> list[int]:
        return list(self.state.clusters)

    def select_clusters(self, clusters: Sequence[int]) -> None:
        self.state.clusters = tuple(int(c) for c in clusters)

    def cluster_user_data(self) -> dict[int, dict[str, Any]]:
        return self._user

    def cluster_name(self, c: int) -> str | None:
        name = self._user.get(int(c), {}).get("name")
        return str(name) if name else None

    def cluster_title(self, c: int) -> str:
        """The display name of row ``c`` of the epoch shown: a cluster, a split part or a merge
        (``groups.display_name``; a cluster with no epoch shown: ``cluster_display_name``)."""
        g = self.group(c)
        return g.title if g is not None else cluster_display_name(c, self.cluster_name(c))

    def cluster_tags(self, c: int) -> list[str]:
        return list(self._user.get(int(c), {}).get("tags") or [])

    def cluster_notes(self, c: int) -> str:
        return str(self._user.get(int(c), {}).get("notes") or "")

    def rename_cluster(self, c: int, name: str | None) -> bool:
        return self._edit_cluster(c, rename_cluster_edit(c, name))

    def set_cluster_tags(self, c: int, tags: Sequence[str]) -> bool:
        return self._edit_cluster(c, tag_cluster_edit(c, tags))

    def set_cluster_notes(self, c: int, notes: str) -> bool:
        return self._edit_cluster(c, note_cluster_edit(c, notes))

    def _edit_cluster(self, c: int, edit: Edit) -> bool:
        pending = self.apply_edit(edit, quiet=True)
        if pending is None:
            return False
        pending.then(lambda applied: applied is not None and self.message.emit(f"Saved {self.cluster_title(c)}"))
        return True

    # =========================================================================================
    # merged and split clusters of the epoch shown
    # =========================================================================================
    @property
    def group_view(self) -> GroupView | None:
        """The clusters of the epoch shown with the user's merges and splits (None: no epoch)."""
        s = self._store
        if s is None or not 1 <= self.epoch <= self.last_epoch:
            return None
        if self._gview is None or self._gview.epoch != self.epoch:
            try:
                self._gview = s.group_view(self.epoch)
            except KeyError:  # the epoch is being re-recorded by another connection
                return None
        return self._gview

    def group(self, code: int) -> Group | None:
        """The group with ``code`` (a row of the cluster list) at the epoch shown."""
        view = self.group_view
        return view.get(code) if view is not None else None

    def merge_groups(self, codes: Sequence[int], name: str | None = None) -> PendingEdit | None:
        """Merge the groups ``codes`` of the epoch shown into one group named ``name`` (on a
        worker: ``then`` gives the ``AppliedEdit``, whose preview names the new group)."""
        view = self.group_view
        if view is None or self._store is None:
            return None
        keys = [view.group(int(c)).key for c in codes]
        try:
            edit = merge_edit(self._store, view.epoch, keys, name, view=view)
        except DcguiError as exc:
            self.errorOccurred.emit(str(exc))
            return None
        return self.apply_edit(edit)

    def rename_group(self, code: int, name: str | None) -> bool:
        """Name group ``code``: a cluster's name, or that of a part or a merged group."""
        g = self.group(code)
        if g is None:
            return False
        if g.kind == "cluster":
            return self.rename_cluster(g.clusters[0], name)
        return self.apply_edit(rename_group_edit(g, name)) is not None

    def dissolve_group(self, code: int) -> PendingEdit | None:
        """Undo a merge (its clusters show on their own) or the split a part belongs to."""
        g = self.group(code)
        edit = None if g is None else dissolve_group_edit(g)
        return None if edit is None else self.apply_edit(edit)

    # =========================================================================================
    # edits, undo and redo
    # =========================================================================================
    def preview_edit(self, edit: Edit) -> EditPreview:
        """What ``edit`` would change (nothing is written)."""
        if self._store is None:
            raise RuntimeError("no session is open")
        return self._store.preview_edit(edit)

    @property
    def edit_busy(self) -> bool:
        """A large edit (or its undo / redo) is being applied on a worker."""
        return self._edit_job is not None

    @property
    def edit_busy_text(self) -> str:
        """What is being applied ("" when nothing is)."""
        return self._edit_pending.summary if self._edit_pending is not None else ""

    def wait_for_edit(self, timeout_ms: int = 60_000) -> bool:
        """Tests and shutdown: block until the edit's worker thread has ended (its result is
        delivered by the event loop after that)."""
        job = self._edit_job
        return job is None or job.wait(timeout_ms)

    def apply_edit(self, edit: Edit, quiet: bool = False) -> PendingEdit | None:
        """Apply and log ``edit``; the views hear what changed once it has landed. An edit that
        can be large runs on a worker (``edit_busy`` meanwhile); a small one lands before this
        returns. None (and a message) when it cannot start; ``then(None)`` when it failed."""
        s = self._store
        if s is None or not self._check_writable() or not self._check_idle():
            return None
        summary = _edit_text(edit)
        if self._on_worker(edit):
            return self._start_edit(summary, lambda st: st.apply_edit(edit),
                                    lambda applied: self._edit_landed(applied, quiet))
        pending = PendingEdit(summary)
        try:
            applied = s.apply_edit(edit)
        except Exception as exc:  # a locked or read-only file, an edit made stale by another window
            self._save_failed(exc)
            pending.resolve(None)
            return pending
        tables = {ch.table for ch in applied.changes}
        if "image_flags" in tables:
            self._apply_flag_changes(applied)  # O(changed), not a re-read of every flag
        self._sync_user_data(flags=False, groups="meta" in tables)  # the small tables; named groups if changed
        self._edit_landed(applied, quiet)
        pending.resolve(applied)
        return pending

    def _on_worker(self, edit: Edit) -> bool:
        targets = getattr(edit, "targets", None)
        if targets is not None:
            return len(targets) > 1
        if edit.kind == "image group":
            stored = sum(len(v) for v in self._groups.values())
            return stored + len(getattr(edit, "indices", None) or ()) > GROUPS_ON_WORKER
        return edit.kind in WORKER_KINDS

    def _edit_landed(self, applied: AppliedEdit | None, quiet: bool) -> None:
        if applied is None or quiet:
            return
        if applied.record is None:
            self.message.emit(f"{applied.preview.summary}: nothing to change")
        else:
            self.message.emit(f"{applied.preview.summary[:1].upper()}{applied.preview.summary[1:]} "
                              "(Edit ▸ Undo takes it back)")

    def _save_failed(self, exc: BaseException, verb: str = "save the change") -> None:
        s = self._store
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        name = s.path.name if s is not None else "the session"
        self.errorOccurred.emit(f"Could not {verb} in {name}: {text}")

    def _check_idle(self) -> bool:
        if self._edit_pending is None:
            return True
        self.message.emit(f"Still saving “{self._edit_pending.summary}”: the window takes the next change "
                          "once it is in the session file")
        return False

    def _start_edit(self, summary: str, op: Callable[[SessionStore], Any], landed: Callable[[Any], Any],
                    verb: str = "save the change") -> PendingEdit:
        """Run ``op(store)`` on a worker with its own connection to the session file, then read
        the user data there too; the GUI thread only takes the result (``_install``)."""
        from dcgui.gui.worker import GeneratorWorker, call_job
        from dcgui.store import SessionStore

        s = self._store
        assert s is not None
        path, base = s.path, dict(self._flags)  # a copy: the worker diffs against it
        pending = PendingEdit(summary)

        def work() -> tuple[Any, UserData]:
            with SessionStore.open(path, check=False) as store:
                result = op(store)
                return result, read_user_data(store, base)

        # No Qt parent: the worker module keeps it alive until its thread is done, also when the
        # model goes first (a window closed mid-edit); the transaction then still ends whole.
        job = GeneratorWorker(call_job(work), name="edit")
        outcome: list[Any] = []

        def on_returned(value: tuple[Any, UserData]) -> None:
            outcome.append(value)

        def on_errored(err: WorkerError) -> None:
            self._save_failed(err.exception, verb)

        def on_finished() -> None:
            self._edit_job = self._edit_pending = None
            result = None
            if outcome and self._store is not None and self._store.path == path:  # still the session shown
                result, data = outcome[0]
                self._install(data)
            self.editBusyChanged.emit(False)
            landed(result)
            pending.resolve(result)
            job.deleteLater()

        job.returned.connect(on_returned)
        job.errored.connect(on_errored)
        job.finished.connect(on_finished)
        self._edit_job, self._edit_pending = job, pending
        job.start()
        self.editBusyChanged.emit(True)
        return pending

    def _apply_flag_changes(self, applied: AppliedEdit) -> None:
        """Update the flags from the rows a small flag edit wrote (keyed by path) and tell the
        views those images alone, without re-reading every flag."""
        s = self._store
        if s is None:
            return
        index = self._path_index
        if index is None or len(index) != len(self._paths):
            index = self._path_index = {p: i for i, p in enumerate(self._paths)}
        changed = []
        for ch in applied.changes:
            i = index.get(ch.key)
            if ch.table != "image_flags" or i is None:  # a flag kept for a file not in the collection now
                continue
            flag = ch.after.get("flag") if ch.after else None
            if flag:
                self._flags[i] = str(flag)
            else:
                self._flags.pop(i, None)
            changed.append(i)
        if changed:
            self.flagsChanged.emit(sorted(changed))

    def next_undo_redo(self) -> tuple[EditRecord | None, EditRecord | None]:
        """(what undo would undo, what redo would redo)."""
        return self._undo_redo

    def undo(self, steps: int = 1) -> PendingEdit | None:
        return self._undo_or_redo(steps, redo=False)

    def redo(self, steps: int = 1) -> PendingEdit | None:
        return self._undo_or_redo(steps, redo=True)

    def _undo_or_redo(self, steps: int, redo: bool) -> PendingEdit | None:
        """Undo or redo; on a worker when what it takes back can be large. ``then`` gives the
        records done (None when it failed)."""
        s = self._store
        if s is None or not self._check_writable() or not self._check_idle():
            return None
        verb = "redo" if redo else "undo"
        rec = self._undo_redo[1 if redo else 0]

        def landed(done: list[EditRecord] | None) -> None:
            if done:
                self.message.emit(f"{'Redone' if redo else 'Undone'}: {done[-1].summary}")
            elif done is not None:
                self.message.emit(f"Nothing to {verb}")

        large_groups = rec is not None and rec.kind == "image group" and \
            sum(len(v) for v in self._groups.values()) > GROUPS_ON_WORKER
        if rec is not None and (steps > 1 or rec.rows > 1 or rec.kind in WORKER_KINDS or large_groups):
            return self._start_edit(f"{verb} {rec.summary}", lambda st: undo_or_redo(st, steps, redo), landed, verb)
        pending = PendingEdit(verb)
        try:
            done = undo_or_redo(s, steps, redo)
        except Exception as exc:
            self._save_failed(exc, verb)
            pending.resolve(None)
            return pending
        self._sync_user_data()
        landed(done)
        pending.resolve(done)
        return pending

    # =========================================================================================
    # image flags
    # =========================================================================================
    @property
    def flags(self) -> dict[int, str]:
        """Image index -> "keep" / "exclude" / "duplicate" (do not modify)."""
        return self._flags

    def set_flag(self, indices: Iterable[int], flag: str | None) -> int:
        """Flag images by hand (None clears); returns how many were addressed (0 on failure).
        Views show ``preview_edit`` first when that is more than one image."""
        idx = sorted({int(i) for i in indices})
        if self._store is None or not idx:
            self.message.emit("Select images first (click, Shift+click, Ctrl+A, or a lasso on the map)")
            return 0
        pending = self.apply_edit(flag_edit(idx, flag), quiet=True)
        if pending is None:
            return 0
        what = f"flagged “{flag}”" if flag else "unflagged"
        pending.then(lambda applied: applied is not None and self.message.emit(
            f"{len(idx):,} image{'s' if len(idx) != 1 else ''} {what} (no file was changed; Edit ▸ Undo takes it back)"))
        return len(idx)

    def flag_selection(self, flag: str | None) -> int:
        return self.set_flag(self.selection, flag)

    # =========================================================================================
    # named groups
    # =========================================================================================
    @property
    def groups(self) -> dict[str, list[int]]:
        return self._groups

    def save_group(self, name: str, indices: Iterable[int], add: bool = True) -> bool:
        """Store ``indices`` under ``name``; ``add`` merges with a group of that name."""
        name = image_group_name(name)
        members = set(int(i) for i in indices)
        if add:
            members |= set(self._groups.get(name, []))
        pending = self.apply_edit(image_group_edit(name, members), quiet=True)
        if pending is None:
            return False
        pending.then(lambda applied: applied is not None and self.message.emit(
            f"Group “{name}”: {len(self._groups.get(name, [])):,} images"))
        return True

    def delete_group(self, name: str) -> bool:
        if name not in self._groups:
            return False
        return self.apply_edit(image_group_edit(name, None)) is not None

    def select_group(self, name: str) -> None:
        self.select_images(self._groups.get(name, []), "group")

    # =========================================================================================
    def _check_writable(self) -> bool:
        if self._readonly:
            self.errorOccurred.emit("The session is open read-only: changes cannot be saved. "
                                    "Make the file writable and open it again.")
            return False
        return True


def _edit_text(edit: Edit) -> str:
    """A short name for ``edit`` while it is saved ("flag 100,000 images “exclude”")."""
    targets = getattr(edit, "targets", None)
    if targets is not None:
        return flags_text(targets)
    return {"merge": "the merge", "split": "the split", "dissolve": "dissolving the group",
            "image group": "the named group"}.get(edit.kind, f"the {edit.kind} edit")
