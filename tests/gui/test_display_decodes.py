"""``DisplayDecodes``: the image pane's and the duplicate comparison's off-thread decoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from dcgui.gui.image_pane import DisplayDecodes


def test_only_the_newest_batch_is_delivered_with_size_facts_and_errors(qtbot: Any, tmp_path: Path) -> None:
    Image.new("RGB", (300, 200), (200, 30, 30)).save(tmp_path / "a.jpg")
    Image.new("RGB", (40, 60), (30, 200, 30)).save(tmp_path / "b.png")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    got: list[tuple[int, Any, Any, Any, str]] = []
    decodes = DisplayDecodes(lambda *args: got.append(args))

    decodes.begin()
    decodes.decode(1, lambda: tmp_path / "a.jpg", 512)  # the user moves on before it lands
    decodes.begin()
    decodes.decode(2, lambda: tmp_path / "b.png", 512, facts=True)
    decodes.decode(3, lambda: tmp_path / "broken.jpg", 512)
    qtbot.waitUntil(lambda: len(got) == 2, timeout=10_000)
    qtbot.wait(200)  # batch 1's result has had time to arrive too: it must stay dropped
    by_tag = {g[0]: g for g in got}
    assert set(by_tag) == {2, 3}
    _, image, size, facts, error = by_tag[2]
    assert image is not None and (image.width(), image.height()) == (40, 60) and size == (40, 60)
    assert facts is not None and error == ""
    _, image, size, facts, error = by_tag[3]
    assert image is None and "broken.jpg" in error
