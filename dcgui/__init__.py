"""dcgui: DeepCluster (Caron et al., ECCV 2018) on your own photos."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from torch import nn


def load_backbone(path: str) -> nn.Module:
    """Load a backbone exported with ``dcgui export --format state-dict`` as an ``nn.Module``."""
    from dcgui.core.export import load_backbone as _load

    return _load(path)
