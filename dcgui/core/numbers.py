"""Numbers written for people: scores and byte sizes, the same in the terminal, the window and
the report."""

from __future__ import annotations

import math

DASH = "–"  # a missing value in HTML and the window (the terminal uses "-": plain ASCII)


def fmt(value: float | None, digits: int = 3, missing: str = DASH) -> str:
    """``value`` with ``digits`` decimals; None or NaN (not measured): ``missing``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return f"{value:.{digits}f}"


def human_bytes(n: float | None) -> str:
    """``n`` bytes as people read them (decimal units, as file managers show sizes); None: "?"."""
    if n is None:
        return "?"
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")
