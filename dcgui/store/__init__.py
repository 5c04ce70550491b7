"""The session store: everything about a DeepCluster session in one SQLite file.

``from dcgui.store import SessionStore``: the one entry point, composed of parts that each own one
job (``dcgui.store.session`` lists them). The file's design (crash safety, readers, never
damaging a user's file) is in ``dcgui.store.database``; the assignments' encoding in
``dcgui.store.epochs``; the edit log in ``dcgui.store.edits`` and ``dcgui.store.editlog``.
"""

from __future__ import annotations

from dcgui.store.edits import BULK, HAND, IMAGE_FLAGS, AppliedEdit
from dcgui.store.schema import SCHEMA_VERSION
from dcgui.store.session import SessionStore

__all__ = ["BULK", "HAND", "IMAGE_FLAGS", "SCHEMA_VERSION", "AppliedEdit", "SessionStore"]
