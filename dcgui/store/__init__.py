"""The session store: everything about a DeepCluster session in one SQLite file.

``from dcgui.store import SessionStore``. See ``dcgui.store.session`` for the design.
"""

from __future__ import annotations

from dcgui.store.schema import SCHEMA_VERSION
from dcgui.store.session import IMAGE_FLAGS, SessionStore

__all__ = ["IMAGE_FLAGS", "SCHEMA_VERSION", "SessionStore"]
