"""Numbers written for people (``dcgui.core.numbers``), as the CLI, the window and the report show them."""

from __future__ import annotations

from dcgui.cli.common import fmt as cli_fmt
from dcgui.core.numbers import fmt, human_bytes


def test_fmt_rounds_and_says_missing_values() -> None:
    assert fmt(0.12345) == "0.123" and fmt(2, 1) == "2.0"
    assert fmt(None) == fmt(float("nan")) == "–"
    assert fmt(None, missing="n/a") == "n/a"
    # The terminal keeps to ASCII.
    assert cli_fmt(float("nan")) == "-" and cli_fmt(0.5, 2) == "0.50"


def test_human_bytes_uses_decimal_units() -> None:
    assert human_bytes(None) == "?"
    assert human_bytes(999) == "999 bytes"
    assert human_bytes(1500) == "1.5 KB"
    assert human_bytes(2_500_000) == "2.5 MB"
    assert human_bytes(7.2e12) == "7200.0 GB"
