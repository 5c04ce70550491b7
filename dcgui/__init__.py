"""dcgui: DeepCluster (Caron et al., ECCV 2018) on your own photos."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dcgui._version import __version__

__all__ = ["__version__", "load_backbone"]

if TYPE_CHECKING:
    from torch import nn


def load_backbone(path: str) -> nn.Module:
    """Load a backbone exported with ``dcgui export --format state-dict`` as an ``nn.Module``."""
    from dcgui.core.output.export import load_backbone as _load

    return _load(path)
