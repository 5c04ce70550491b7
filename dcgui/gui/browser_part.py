"""The base of the cluster browser's parts (``cluster_browser_sync``, ``cluster_commands``,
``cluster_edits``): each does one job of the browser and reaches its widgets through ``b``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from dcgui.gui.cluster_browser import ClusterBrowser


class BrowserPart(QObject):
    """One job of ``browser``; a child of it, so that its slots end with it."""

    def __init__(self, browser: ClusterBrowser) -> None:
        super().__init__(browser)
        self.b = browser
