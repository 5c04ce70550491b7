"""The generator drivers every long job goes through: ``relay`` (a filtered ``yield from``) and
``drain`` (run to the end, return the value)."""

from __future__ import annotations

from collections.abc import Generator

from dcgui.core.control import drain, relay


def _job(log: list[str]) -> Generator[str, None, int]:
    for name in ("progress", "paused", "progress", "resumed"):
        log.append(f"made {name}")
        yield name
    return 42


def test_relay_passes_the_kept_events_in_order_and_returns_the_value() -> None:
    log: list[str] = []

    def outer() -> Generator[str, None, int]:
        value = yield from relay(_job(log), lambda ev: ev != "progress")
        return value + 1

    seen: list[str] = []
    result = drain(outer(), seen.append)
    assert seen == ["paused", "resumed"]
    assert result == 43
    assert len(log) == 4  # the dropped events were still produced (the job ran through)


def test_relay_is_lazy() -> None:
    log: list[str] = []
    gen = relay(_job(log), lambda ev: True)
    assert log == []
    assert next(gen) == "progress" and log == ["made progress"]


def test_drain_hands_every_event_over_and_returns_the_value() -> None:
    seen: list[str] = []
    assert drain(_job([]), seen.append) == 42
    assert seen == ["progress", "paused", "progress", "resumed"]
    assert drain(_job([])) == 42
