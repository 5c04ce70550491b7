"""Which photo folder a session works on, and re-pointing it at a moved folder (relink).

A session records its folder twice: absolute, and relative to the session file. The relative
one wins when it exists (``SessionStore.folder``), so a project copied as a unit works on the
copy's photos. Whenever the folder used is not the recorded absolute one, every command and the
window say so (``folder_note``); when neither exists, they say how to relink.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dcgui.core.errors import DcguiError
from dcgui.core.pathtext import terminal_text

if TYPE_CHECKING:
    from dcgui.store import SessionStore

# Notes for the user that are not errors (the CLI prints them on stderr as "dcgui: note: ...",
# the window in its status bar).
notices = logging.getLogger("dcgui.notice")

RELINK_SAMPLE = 64  # files whose names and sizes a relink compares (spread over the list)


def folder_note(store: SessionStore) -> str | None:
    """What to tell the user about the session's folder, or None when it is the recorded one."""
    used, recorded = store.folder, store.recorded_folder
    name = terminal_text(store.path.name)
    if not used.is_dir():
        return (f"the photo folder {terminal_text(used)} of {name} does not exist: if the photos moved, "
                f"run `dcgui relink {terminal_text(store.path)} NEWFOLDER`")
    if os.path.normpath(used) != os.path.normpath(recorded):
        return (f"{name} uses the photo folder {terminal_text(used)} (beside the session file), "
                f"not the recorded {terminal_text(recorded)}")
    return None


def announce_folder(store: SessionStore) -> None:
    note = folder_note(store)
    if note:
        notices.warning(note)


@dataclass(frozen=True)
class Mismatch:
    path: str
    why: str  # "missing", or "N bytes instead of M"


def _sample(n: int, k: int = RELINK_SAMPLE) -> list[int]:
    """``k`` image indices spread evenly over ``0..n-1`` (all when there are fewer)."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def check_relink(store: SessionStore, folder: str | os.PathLike[str]) -> tuple[int, list[Mismatch]]:
    """Compare a sample of the session's images (name and byte size) with ``folder``:
    (files checked, mismatches). Only ``stat`` calls: quick even on a network drive."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DcguiError(f"the folder {terminal_text(folder)} does not exist: give the folder that now holds "
                         f"the photos of {terminal_text(store.path.name)}")
    paths = store.image_paths()
    sizes = store.image_stats()["size"]
    picked = _sample(len(paths))
    bad: list[Mismatch] = []
    for i in picked:
        try:
            st = (folder / paths[i]).stat()
        except OSError:
            bad.append(Mismatch(paths[i], "missing"))
            continue
        if sizes[i] and st.st_size != int(sizes[i]):
            bad.append(Mismatch(paths[i], f"{st.st_size} bytes instead of {int(sizes[i])}"))
    return len(picked), bad


def relink(store: SessionStore, folder: str | os.PathLike[str]) -> int:
    """Point ``store`` at ``folder`` after checking that it holds the session's photos (see
    ``check_relink``); returns the number of files checked. Refuses, changing nothing, when
    any checked file is missing or has another size."""
    folder = Path(folder).expanduser().absolute()
    checked, bad = check_relink(store, folder)
    if bad:
        shown = "; ".join(f"{terminal_text(m.path)}: {m.why}" for m in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise DcguiError(
            f"{terminal_text(folder)} does not hold the photos of {terminal_text(store.path.name)}: "
            f"{len(bad)} of {checked} checked files differ: {shown}{more}. Give the folder that holds "
            "the same files; nothing was changed"
        )
    store.set_folder(folder)
    return checked
