"""Merged and split clusters on top of an epoch's k-means assignment (arrays in, arrays out).

Users refine the clusters of an epoch: merge several into one named group, or split one into N
parts (k-means on its members). Both refer to *matched* cluster ids of the epoch they are made
at. How a group made at epoch e carries over to a later epoch depends on steering:

* **Steering off**: by those ids, which the cluster matching keeps stable from epoch to epoch
  (``dcgui.core.analysis.matching``): a merge takes whatever images its clusters hold there, and
  a split gives each image of its cluster the part it was given at epoch e. A split labels
  *every* image of the collection (nearest part centroid), so an image that joins the cluster
  later has a part too.
* **Steering on**: by its *member set*, the images it held at epoch e, which the later
  clusterings keep together under one pseudo-label (``dcgui.core.train.steering``). Matching
  cannot keep ids for such a group: a merge of clusters 3 and 7 becomes one cluster, which keeps
  id 3, and id 7 goes to other images. So the group is shown as the cluster its set landed in
  (``member_sets`` of ``resolve_groups``), and each part of a split as the cluster its part's
  set landed in.

Resolution at epoch E (``resolve_groups``), using only groups made at or before E:
* per cluster number, only its latest split counts (``current_splits``); it replaces the cluster
  by its parts (a followed split: the clusters its parts landed in);
* per unit (a whole cluster, or one part of a split), the latest merge that lists it owns it;
  a merge that owns no unit at E is not shown.
So a newer merge or split supersedes an older one for the units they share, and nothing has
to be rewritten when the user refines a refinement.

Group keys, as users type them: ``12`` (cluster 12), ``12.2`` (part 2 of the split of cluster
12, counted from 1), ``g5`` (merged group 5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from dcgui.core.errors import InvalidValue

KIND_CLUSTER = "cluster"
KIND_PART = "part"
KIND_MERGE = "merge"
MAX_PARTS = 64
D = TypeVar("D", "SplitDef", "MergeDef")
_KEY = re.compile(r"^\s*(?:(?P<c>\d+)(?:\.(?P<p>\d+))?|[gG](?P<g>\d+))\s*$")


@dataclass(frozen=True, order=True)
class Unit:
    """A whole matched cluster (``split is None``) or part ``part`` (0-based) of split ``split``."""

    cluster: int
    split: int | None = None
    part: int | None = None

    def to_json(self) -> list[int]:
        return [self.cluster] if self.split is None else [self.cluster, self.split, int(self.part or 0)]

    @classmethod
    def from_json(cls, value: Sequence[int]) -> Unit:
        if len(value) == 1:
            return cls(int(value[0]))
        return cls(int(value[0]), int(value[1]), int(value[2]))


@dataclass(frozen=True)
class SplitDef:
    """Cluster ``cluster`` split at ``epoch``; ``labels[i]``: the part of image i (every image)."""

    id: int
    epoch: int
    cluster: int
    labels: np.ndarray
    names: tuple[str | None, ...]

    @property
    def parts(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class MergeDef:
    """Units merged into one group at ``epoch``."""

    id: int
    epoch: int
    units: tuple[Unit, ...]
    name: str | None = None


@dataclass(frozen=True)
class Group:
    """One row of the cluster list at an epoch: a whole cluster, a split part or a merge.

    ``code``: its value in ``GroupView.labels`` (the cluster id for a whole cluster, ``k + j``
    for the others); ``group_id``: the stored split (for a part) or merge; ``part``: 0-based;
    ``clusters``: the matched clusters its images are in at this epoch.
    """

    code: int
    key: str
    kind: str
    name: str | None
    clusters: tuple[int, ...]
    units: tuple[Unit, ...]
    size: int
    group_id: int | None = None
    part: int | None = None
    made_at: int | None = None  # the epoch the merge or split was made (None: a whole cluster)
    follows: bool = False  # shown where its member set landed at this epoch (steering), not by ids

    @property
    def title(self) -> str:
        """The one name this group goes by everywhere (``display_name``)."""
        return display_name(self.kind, self.key, self.name)

    @property
    def folder_name(self) -> str | None:
        """The folder curation gives this group (``folder_name``; None: ``cluster_0012``, which
        ``dcgui.core.output.curate`` reserves for an unnamed cluster 12)."""
        if self.kind == KIND_CLUSTER and not (self.name and self.name.strip()):
            return None
        return folder_name(self.kind, self.key, self.name)


def display_name(kind: str, key: str, name: str | None) -> str:
    """The one display name of a cluster or group, used by the list, the grid header, the image
    pane, the plots, the CSV and the report: the user's name when set, else "cluster 12" (the
    stable matched number), "cluster 12.1" (part 1 of the split of cluster 12), "group g5" (an
    unnamed merge)."""
    if name and name.strip():
        return name.strip()
    return f"group {key}" if kind == KIND_MERGE else f"cluster {key}"


def folder_name(kind: str, key: str, name: str | None) -> str:
    """The curate folder derived from ``display_name``: the user's name (made safe for every OS
    by ``dcgui.core.output.curate``), else the default name with ``_`` for the space and the
    cluster number padded to four digits so folders sort in order: ``cluster_0012``,
    ``cluster_0012.1``, ``group_g5``."""
    if name and name.strip():
        return name.strip()
    if kind == KIND_MERGE:
        return f"group_{key}"
    number, dot, part = key.partition(".")
    return f"cluster_{int(number):04d}{dot}{part}"


@dataclass(frozen=True)
class GroupView:
    """The groups of one epoch and the group (``code``) of every image."""

    epoch: int
    k: int
    labels: np.ndarray  # int64 (N,): the code of each image's group; -1: left out of the clustering
    groups: tuple[Group, ...]
    _by_code: dict[int, Group] = field(init=False, repr=False, compare=False)
    _by_key: dict[str, Group] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {g.code: g for g in self.groups})
        object.__setattr__(self, "_by_key", {g.key: g for g in self.groups})

    @property
    def refined(self) -> bool:
        """True when some merge or split applies at this epoch."""
        return any(g.kind != KIND_CLUSTER for g in self.groups)

    def group(self, code: int) -> Group:
        return self._by_code[int(code)]

    def get(self, code: int | None) -> Group | None:
        """The group with ``code``, or None (no code, or none at this epoch)."""
        return self._by_code.get(int(code)) if code is not None else None

    def of_image(self, i: int) -> Group:
        return self._by_code[int(self.labels[int(i)])]

    def of_cluster(self, cluster: int) -> list[Group]:
        """The group(s) cluster ``cluster`` is shown in (several when it is split)."""
        return [g for g in self.groups if int(cluster) in g.clusters]

    def members(self, code: int) -> np.ndarray:
        return np.flatnonzero(self.labels == int(code)).astype(np.int64)

    def lookup(self, key: str | None) -> Group | None:
        """``find``, or None when ``key`` names no group at this epoch."""
        if key is None:
            return None
        try:
            return self.find(key)
        except KeyError:
            return None

    def find(self, key: str) -> Group:
        """The group a user's key names at this epoch; ``KeyError`` saying what it is instead."""
        kind, a, b = parse_key(key)
        norm = f"g{a}" if kind == KIND_MERGE else (f"{a}.{b}" if kind == KIND_PART else str(a))
        hit = self._by_key.get(norm)
        if hit is not None:
            return hit
        if kind == KIND_CLUSTER:
            if not 0 <= a < self.k:
                raise KeyError(f"cluster {a} does not exist at epoch {self.epoch} (k={self.k})")
            now = self.of_cluster(a)
            where = ", ".join(g.key for g in now)
            raise KeyError(f"cluster {a} is {'split into' if now and now[0].kind == KIND_PART else 'part of'} "
                           f"{where} at epoch {self.epoch}: use {'those keys' if len(now) > 1 else where}")
        if kind == KIND_PART:
            raise KeyError(f"cluster {a} has no part {b} at epoch {self.epoch} (parts are listed as {a}.1, {a}.2 …)")
        raise KeyError(f"group g{a} does not exist at epoch {self.epoch} (it was dissolved, or made at a later epoch)")

    def curate_names(self) -> dict[int, str | None]:
        """Code -> folder name for ``dcgui.core.output.curate.plan_curation``."""
        return {g.code: g.folder_name for g in self.groups}


def parse_key(text: str) -> tuple[str, int, int]:
    """(kind, a, b) of a group key: ("cluster", 12, 0), ("part", 12, 2), ("merge", 5, 0)."""
    m = _KEY.match(str(text))
    if m is None:
        raise KeyError(f"{text!r} is not a cluster or group: use a cluster id (12), a part of a split "
                       "cluster (12.2) or a merged group (g5)")
    if m.group("g") is not None:
        return KIND_MERGE, int(m.group("g")), 0
    if m.group("p") is not None:
        if int(m.group("p")) < 1:
            raise KeyError(f"{text!r}: parts are counted from 1 (12.1, 12.2 …)")
        return KIND_PART, int(m.group("c")), int(m.group("p"))
    return KIND_CLUSTER, int(m.group("c")), 0


def _latest(items: Iterable[D], epoch: int) -> list[D]:
    """The items made at or before ``epoch``, oldest first (by (epoch, id))."""
    return sorted((x for x in items if x.epoch <= epoch), key=lambda x: (x.epoch, x.id))


def current_splits(splits: Iterable[SplitDef], epoch: int) -> list[SplitDef]:
    """The splits made at or before ``epoch`` that count there, oldest first: per cluster number,
    only the latest (splitting a cluster again replaces its earlier split, parts and all)."""
    latest: dict[int, SplitDef] = {}
    for s in _latest(splits, epoch):
        latest[s.cluster] = s
    return sorted(latest.values(), key=lambda x: (x.epoch, x.id))


MemberSet = tuple[int, "int | None", np.ndarray]  # (group id, split part or None for a merge, image indices)


def landing(assign: np.ndarray, members: np.ndarray) -> int | None:
    """The cluster of ``assign`` where a member set landed: the one cluster all its members that
    have a cluster are in (with steering on, the constraint gives a set one pseudo-label); None
    when they are in several (the epoch was clustered without the constraint: trained before the
    group was made, or with steering off) or in none (all left out)."""
    a = np.asarray(assign)[np.asarray(members, dtype=np.int64)]
    a = a[a >= 0]
    if not len(a) or (a != a[0]).any():
        return None
    return int(a[0])


def resolve_groups(
    epoch: int,
    assign: np.ndarray,
    k: int,
    splits: Sequence[SplitDef] = (),
    merges: Sequence[MergeDef] = (),
    cluster_names: dict[int, str | None] | None = None,
    member_sets: Sequence[MemberSet] | None = None,
) -> GroupView:
    """The groups at ``epoch`` from its matched assignment (see the module docstring).

    ``member_sets`` (steering on): the sets the clustering of ``epoch`` kept together, one per
    merge and per split part made at an earlier epoch (``dcgui.core.train.steering.Steering``'s
    ``sets`` and ``origins``). Such a group then *follows* its set: it is shown as the cluster
    where its set landed at ``epoch`` (``landing``), not by the cluster ids it was made of, which
    later epochs give to other images. A merge or split made earlier with no set left (a later
    group took its images, or they are excluded) is not shown; one whose set did not land in one
    cluster (the epoch was not clustered with it) keeps the ids, as without steering.
    """
    assign = np.asarray(assign, dtype=np.int64)
    n = len(assign)
    names = cluster_names or {}
    current = current_splits(splits, epoch)
    for s in current:
        if len(s.labels) != n:
            raise ValueError(f"split {s.id} labels {len(s.labels)} images but epoch {epoch} has {n}")
    shown_merges_defs = _latest(merges, epoch)
    # which earlier groups follow their sets, and the cluster each set landed in
    follow_merge: dict[int, tuple[int, ...]] = {}  # merge id -> the cluster(s) it is shown as
    follow_split: dict[int, dict[int, int]] = {}  # split id -> part -> the cluster it is shown as
    claim: dict[int, tuple[int, int | None]] = {}  # cluster -> the followed (group, part) shown there
    if member_sets is not None:
        landed: dict[tuple[int, int | None], int | None] = {
            (int(gid), None if part is None else int(part)): landing(assign, members)
            for gid, part, members in member_sets}
        made: list[SplitDef | MergeDef] = [*current, *shown_merges_defs]
        for g in sorted(made, key=lambda x: (x.epoch, x.id)):
            if g.epoch >= epoch:
                continue  # made at this epoch: its ids are this epoch's own
            lands = {part: x for (gid, part), x in landed.items() if gid == g.id}
            if isinstance(g, MergeDef):
                if None not in lands:
                    follow_merge[g.id] = ()  # no set left: its images are in later groups, or excluded
                    continue
                x = lands[None]
                if x is None:
                    continue  # did not land in one cluster: keep its ids
                follow_merge[g.id] = (x,)
                claim[x] = (g.id, None)
            else:
                where = {int(p): int(x) for p, x in lands.items() if p is not None and x is not None}
                if len(where) < len(lands) or len(set(where.values())) < len(where):
                    continue  # some part did not land, or two share a cluster: keep the split's ids
                follow_split[g.id] = where
                for p, x in where.items():
                    claim[x] = (g.id, p)
    # active[c]: cluster c shown as parts of a split, (split, None: its parts by labels | the one
    # part a followed split shows there)
    active: dict[int, tuple[SplitDef, int | None]] = {}
    for s in current:
        if s.id in follow_split:
            for p, x in follow_split[s.id].items():
                if claim.get(x) == (s.id, p):
                    active[x] = (s, p)
        else:
            active[s.cluster] = (s, None)  # later ones win
    # unit of every image: (cluster, split, part) as one integer code per distinct unit
    units: list[Unit] = [Unit(c) for c in range(k) if c not in active]
    unit_code = {u: j for j, u in enumerate(units)}
    unit_cluster = {u: u.cluster for u in units}  # where a unit's images are at this epoch
    img_unit = np.full(n, -1, dtype=np.int64)
    plain = ~np.isin(assign, np.fromiter(active, dtype=np.int64, count=len(active))) & (assign >= 0)
    lookup = np.full(max(k, 1), -1, dtype=np.int64)
    for u, j in unit_code.items():
        lookup[u.cluster] = j
    img_unit[plain] = lookup[assign[plain]]
    # parts in the order of their key (a followed split's parts may have landed in any order)
    for c, (s, fixed) in sorted(active.items(), key=lambda a: (a[1][0].cluster, a[1][0].id, a[1][1] or 0)):
        mine = np.flatnonzero(assign == c)
        if fixed is not None:  # a followed part: the whole cluster its set landed in
            u = Unit(s.cluster, s.id, fixed)
            unit_code[u] = len(units)
            unit_cluster[u] = c
            units.append(u)
            img_unit[mine] = unit_code[u]
            continue
        for p in range(s.parts):
            unit_code[Unit(c, s.id, p)] = len(units)
            unit_cluster[Unit(c, s.id, p)] = c
            units.append(Unit(c, s.id, p))
        base = unit_code[Unit(c, s.id, 0)]
        img_unit[mine] = base + np.clip(np.asarray(s.labels)[mine].astype(np.int64), 0, s.parts - 1)

    def units_of(m: MergeDef) -> tuple[Unit, ...]:
        if m.id in follow_merge:
            return tuple(Unit(x) for x in follow_merge[m.id] if claim.get(x) == (m.id, None))
        return m.units

    owner: dict[Unit, MergeDef] = {}
    for m in shown_merges_defs:
        for u in units_of(m):
            if u in unit_code:
                owner[u] = m  # later merges take units from earlier ones
    # codes: whole clusters keep their id; parts and merges get k, k + 1, ... (parts first)
    unit_to_code = np.empty(len(units), dtype=np.int64)
    groups_spec: list[tuple[int, str, str, str | None, list[Unit], int | None, int | None, int | None]] = []
    next_code = k
    shown_merges: set[int] = set()  # coded after the parts
    for j, u in enumerate(units):
        own = owner.get(u)
        if own is not None:
            shown_merges.add(own.id)
            continue
        if u.split is None:
            unit_to_code[j] = u.cluster
            groups_spec.append((u.cluster, str(u.cluster), KIND_CLUSTER, names.get(u.cluster), [u], None, None, None))
        else:
            s = active[unit_cluster[u]][0]
            unit_to_code[j] = next_code
            groups_spec.append((next_code, f"{u.cluster}.{int(u.part or 0) + 1}", KIND_PART,
                                s.names[int(u.part or 0)], [u], s.id, u.part, s.epoch))
            next_code += 1
    merges_by_id = {m.id: m for m in merges}
    for mid in sorted(shown_merges):
        m = merges_by_id[mid]
        owned = [u for u in units_of(m) if owner.get(u) is m]
        for u in owned:
            unit_to_code[unit_code[u]] = next_code
        groups_spec.append((next_code, f"g{m.id}", KIND_MERGE, m.name, sorted(owned), m.id, None, m.epoch))
        next_code += 1
    # images the epoch left out (steering's exclusions, assign -1) are in no group: label -1
    labels = np.where(img_unit >= 0, unit_to_code[np.maximum(img_unit, 0)], -1) if n else np.zeros(0, dtype=np.int64)
    sizes = np.bincount(labels[labels >= 0], minlength=next_code) if n else np.zeros(next_code, dtype=np.int64)
    groups = tuple(
        Group(code, key, kind, name, tuple(sorted({unit_cluster[u] for u in us})), tuple(us), int(sizes[code]),
              gid, part, made, gid is not None and (gid in follow_merge or gid in follow_split))
        for code, key, kind, name, us, gid, part, made in groups_spec
    )
    return GroupView(int(epoch), int(k), labels.astype(np.int64), groups)


# ---------------------------------------------------------------------------------------------
# splitting a cluster
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitProposal:
    """``parts`` parts of cluster ``cluster`` at ``epoch``, for the user to look at before accepting.

    ``labels``: the part of every image of the collection (nearest centroid); ``members``: the
    cluster's images; ``samples[p]``: up to a few members of part p, nearest its centroid first.
    """

    epoch: int
    cluster: int
    parts: int
    labels: np.ndarray
    members: np.ndarray
    sizes: tuple[int, ...]
    samples: tuple[np.ndarray, ...]


def split_members(features: np.ndarray, members: np.ndarray, parts: int, seed: int = 0,
                  n_samples: int = 12) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """k-means of the ``members`` rows of ``features`` (unit rows) into ``parts`` parts.

    Returns (part of every row of ``features`` (int16, nearest centroid), sizes among the members,
    samples per part). Parts are numbered largest first (ties: the part with the lowest member
    index first), so the same input always gives the same numbering.
    """
    from dcgui.core.analysis.neighbours import as_normalized, normalize_rows
    from dcgui.core.train.clustering import kmeans

    members = np.asarray(members, dtype=np.int64)
    parts = int(parts)
    if not 2 <= parts <= MAX_PARTS:
        raise InvalidValue(f"a cluster can be split into 2 to {MAX_PARTS} parts, not {parts}")
    if len(members) < parts:
        raise InvalidValue(f"the cluster has {len(members)} images: it cannot be split into {parts} parts")
    x = normalize_rows(features[members])
    res = kmeans(x, parts, niter=25, seed=seed)
    centroids = normalize_rows(res.centroids)
    # number parts by size, largest first
    counts = np.bincount(res.assign, minlength=parts)
    first = np.array([members[res.assign == p].min() if counts[p] else np.iinfo(np.int64).max for p in range(parts)])
    order = np.lexsort((first, -counts))
    centroids = centroids[order]
    everyone = as_normalized(features)  # no copy when they already are unit rows
    sims = everyone @ centroids.T  # nearest centroid = highest cosine on unit rows
    labels = np.argmax(sims, axis=1).astype(np.int16)
    labels[members] = np.argsort(order)[res.assign].astype(np.int16)  # members keep k-means' parts
    sizes = np.bincount(labels[members], minlength=parts)
    samples = []
    for p in range(parts):
        mine = members[labels[members] == p]
        best = np.argsort(-sims[mine, p], kind="stable")[:n_samples]
        samples.append(mine[best])
    return labels, sizes, samples


def propose_split(features: np.ndarray, assign: np.ndarray, epoch: int, cluster: int, parts: int,
                  seed: int = 0, n_samples: int = 12) -> SplitProposal:
    """Split matched cluster ``cluster`` of ``epoch`` (``assign``: its matched ids)."""
    assign = np.asarray(assign)
    if len(features) != len(assign):
        raise ValueError(f"{len(features)} feature rows for {len(assign)} images: use the same epoch's features")
    members = np.flatnonzero(assign == int(cluster)).astype(np.int64)
    labels, sizes, samples = split_members(features, members, parts, seed, n_samples)
    return SplitProposal(int(epoch), int(cluster), int(parts), labels, members,
                         tuple(int(s) for s in sizes), tuple(samples))


def units_for_keys(view: GroupView, keys: Sequence[str]) -> tuple[list[Unit], list[str]]:
    """The units a merge of the groups ``keys`` (at ``view.epoch``) takes, and the keys as found.

    A merged group contributes all its units, so merging ``g5`` with ``7`` makes one group of
    both. ``KeyError`` names a key that is not a group at that epoch."""
    units: list[Unit] = []
    found: list[str] = []
    for key in keys:
        g = view.find(key)
        if g.key in found:
            continue
        found.append(g.key)
        units.extend(g.units)
    if len(found) < 2:
        raise KeyError("merging needs at least two different clusters or groups: "
                       f"{', '.join(found) or 'none'} given")
    return sorted(set(units)), found
