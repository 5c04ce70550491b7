"""The session store: everything about a DeepCluster session in one SQLite file.

``from dcgui.store import SessionStore``. See ``dcgui.store.session`` for the design.
"""

from __future__ import annotations

from dcgui.store.edits import BULK, HAND, IMAGE_FLAGS, AppliedEdit
from dcgui.store.schema import SCHEMA_VERSION
from dcgui.store.session import SessionStore

__all__ = ["BULK", "HAND", "IMAGE_FLAGS", "SCHEMA_VERSION", "AppliedEdit", "SessionStore"]
