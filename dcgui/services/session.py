"""Opening a session, choosing one of its epochs, and loading the network of an epoch.

Every command and every GUI action that works on "a session at an epoch" starts here, so the
rules (which epochs exist for what, what the error says) are written once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dcgui.core.errors import DcguiError

if TYPE_CHECKING:
    import torch

    from dcgui.core.config import TrainConfig
    from dcgui.core.train.models import DeepClusterNet
    from dcgui.store import SessionStore

# "clusters": the epoch must have assignments (1..last); "network": a checkpoint (0..last),
# where epoch 0 is the random initialisation.
EpochNeed = Literal["clusters", "network"]


def open_session(path: str | Path, readonly: bool = True, check: bool = True) -> SessionStore:
    """The session file at ``path``; a missing file says so (and how to fix it). ``check`` False:
    no page scan (a second connection to a file just opened and checked). When the photo folder
    it uses is not the recorded one, or is missing, a note says so (``folder_note``)."""
    from dcgui.store import SessionStore

    path = Path(path).expanduser()
    if not path.is_file():
        raise DcguiError(f"the session file {path} does not exist: give the path of a NAME.dcgui file")
    return announced(SessionStore.open(path, readonly=readonly, check=check))


def announced(store: SessionStore) -> SessionStore:
    """``store`` after ``announce_folder`` (a note when the photo folder it uses is not the recorded
    one); closed, and the error raised on, when that fails."""
    from dcgui.services.folder import announce_folder

    with closed_on_error(store):
        announce_folder(store)
    return store


def open_to_record(path: str | Path) -> SessionStore:
    """The session, writable when its file and folder can be written (an export is then logged
    in it), else read-only: exporting from a session on read-only media still works."""
    import os

    path = Path(path).expanduser()
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
    return open_session(path, readonly=not writable)


def available_epochs(store: SessionStore, need: EpochNeed) -> list[int]:
    """The epochs of ``store`` that have what ``need`` asks for, ascending."""
    last = store.last_epoch()
    if need == "clusters":
        return list(range(1, last + 1))
    return sorted(e for e, _, _ in store.checkpoints() if e <= last)


def choose_epoch(store: SessionStore, epoch: int | None, need: EpochNeed) -> int:
    """``epoch`` checked against the session; None = the latest trained epoch."""
    if epoch is None:
        if store.last_epoch() == 0:
            raise DcguiError(f"{store.path} has no trained epoch yet: train it first "
                             f"(dcgui train {store.folder} --session {store.path})")
        return store.last_epoch()
    have = available_epochs(store, need)
    if int(epoch) not in have:
        shown = ", ".join(str(e) for e in have) or "none"
        raise DcguiError(f"epoch {epoch} of {store.path} is not trained (available: {shown}): "
                         "choose --epoch among those")
    return int(epoch)


def load_network(store: SessionStore, epoch: int, device: str | None = None
                 ) -> tuple[DeepClusterNet, TrainConfig, torch.device]:
    """The backbone of checkpoint ``epoch`` in eval mode on ``device`` (default: the session's)."""
    from dcgui.core.device import resolve_device
    from dcgui.core.train.checkpoint import load_model

    dev = resolve_device(device or store.config.device)
    # The recorded sha256: a damaged or replaced checkpoint is refused, not silently used.
    model, config = load_model(store.checkpoint_path(epoch), dev, sha256=store.checkpoint_sha256(epoch), epoch=epoch)
    return model, config, dev


def open_to_view(path: str | Path) -> tuple[SessionStore, bool]:
    """The session for the window: writable, else read-only when its file or folder is
    write-protected (it can still be looked at); (store, read-only)."""
    import os

    from dcgui.core.errors import SessionFileError

    path = Path(path).expanduser()
    try:
        return open_session(path, readonly=False), False
    except SessionFileError:
        if path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            return open_session(path, readonly=True), True
        raise


def claim_or_close(store: SessionStore) -> SessionStore:
    """Take ``store``'s trainer lock, or close it and raise (``SessionBusyError`` names the other
    process): one trainer per session, refused before anything is loaded."""
    with closed_on_error(store):
        store.claim_trainer()
    return store


@contextmanager
def closed_on_error(store: SessionStore) -> Iterator[SessionStore]:
    """``store``, closed (and the error raised on) when the block fails: a half-made session
    is not left open."""
    try:
        yield store
    except BaseException:
        store.close()
        raise
