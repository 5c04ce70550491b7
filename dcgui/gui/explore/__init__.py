"""The Explore tab, one module per sub-tab (see ``panel.py`` for the container)."""

from dcgui.gui.explore.panel import (
    TAB_DUPLICATES,
    TAB_EVAL,
    TAB_MAP,
    TAB_OUTLIERS,
    TAB_SIMILAR,
    ExplorePanel,
)

__all__ = ["TAB_DUPLICATES", "TAB_EVAL", "TAB_MAP", "TAB_OUTLIERS", "TAB_SIMILAR", "ExplorePanel"]
