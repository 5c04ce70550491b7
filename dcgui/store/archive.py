"""Rewinding a session to an earlier epoch: the later epochs are set aside in an archive (a
session file of its own under ``NAME.dcgui.d/archive/``) together with their checkpoint files."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sqlite3
from pathlib import Path

from dcgui.core.errors import DcguiError
from dcgui.store.database import Database, relpath_or_none
from dcgui.store.epochs import EpochData
from dcgui.store.info import SessionInfo


class Archive:
    """The session's archive folder and the one action that fills it (it moves files)."""

    def __init__(self, database: Database, info: SessionInfo, epoch_data: EpochData) -> None:
        self._db = database
        self._info = info
        self._epochs = epoch_data

    @property
    def dir(self) -> Path:
        return self._info.data_dir / "archive"

    def epochs_after(self, epoch: int) -> Path:
        """Set the later epochs aside so training can continue from ``epoch``; return the archive.

        The archive is a complete copy of this session as it was (a session file of its own under
        ``NAME.dcgui.d/archive/``: ``dcgui info`` / ``clusters`` / the window open it read-only),
        holding the checkpoints of the later epochs. Then epochs > ``epoch`` are removed here.
        Order for a crash at any point: copy, then forget here, then move the checkpoint files
        (files left behind are overwritten by the retraining).
        """
        path = self._db.path
        epoch = int(epoch)
        last = self._epochs.last()
        if not 0 <= epoch < last:
            raise DcguiError(f"{path.name} has epochs 1-{last}: choose an epoch from 0 to {last - 1} "
                             "to continue from" if last else f"{path.name} has no trained epoch to set aside")
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S")
        target = self.dir / f"{path.stem}-epochs-{epoch + 1}-{last}-{stamp}.dcgui"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".creating")
        for stale in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
            stale.unlink(missing_ok=True)
        dest = sqlite3.connect(str(tmp))
        try:
            with self._db.checked(need=path.stat().st_size):
                self._db.conn.backup(dest)
        finally:
            dest.close()
        os.replace(tmp, target)
        later = [(e, p) for e, p, _ in self._epochs.checkpoints() if e > epoch]
        earlier = [(e, p) for e, p, _ in self._epochs.checkpoints() if e <= epoch]
        self._epochs.truncate(epoch, f"archived with epochs {epoch + 1}-{last} in {target.name}: "
                                     "can no longer be undone here")
        archived_ckpts = target.with_name(target.name + ".d") / "checkpoints"
        archived_ckpts.mkdir(parents=True, exist_ok=True)
        for e, p in later + earlier:
            if relpath_or_none(p, self._info.checkpoint_dir, inside_only=True) is None or not p.is_file():
                continue  # never move a file that is not ours
            with contextlib.suppress(OSError):
                if e > epoch:
                    os.replace(p, archived_ckpts / p.name)
                else:  # the shared history: a hard link costs no space (skipped where unsupported)
                    os.link(p, archived_ckpts / p.name)
        return target
