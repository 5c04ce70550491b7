"""The report stays small at k = 1,000 (a fixed number of thumbnails per card, the cards beyond
the largest clusters collapsed to one image): photos that JPEG compresses worst (noise) in
1,000 clusters, written in well under 15 MB -- ``make test-slow``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgui.core.config import TrainConfig
from dcgui.core.control import drain
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan
from dcgui.services.report import iter_report
from dcgui.store import SessionStore
from tests.gui.test_cluster_browser import epoch_event

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

N, K = 3000, 1000


def test_report_at_k_1000_is_under_15_mb(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    for c in range(10):
        (folder / f"class_{c}").mkdir(parents=True)
    for i in range(N):
        noise = rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)
        Image.fromarray(noise).save(folder / f"class_{i % 10}" / f"p{i:05d}.jpg", quality=90)
    res = scan(folder)
    cfg = TrainConfig(k=K, image_size=32, epochs=2)
    store = SessionStore.create(tmp_path / "big.dcgui", folder, cfg)
    cache = drain(ImageCache.iter_build(store.cache_dir, folder, res.images, cfg.cache_size, workers=1))
    store.set_images(cache.records, [], res.label_names)
    # the 120 largest clusters (full cards) hold 15 images each: every card shows its 12 thumbnails
    a = np.concatenate([np.repeat(np.arange(120), 15), 120 + rng.integers(0, K - 120, N - 1800)])
    a = a[rng.permutation(N)]
    store.record_epoch(epoch_event(1, a, K))
    store.record_epoch(epoch_event(2, np.where(rng.random(N) < 0.3, rng.integers(0, K, N), a), K))
    result = drain(iter_report(store, tmp_path / "big.html"))
    size = (tmp_path / "big.html").stat().st_size
    print(f"k = {K}, {N} noise photos: {size / 1e6:.1f} MB in {result.seconds:.1f} s")
    assert size == result.bytes and size < 15e6
    text = (tmp_path / "big.html").read_text()
    assert text.count('<div class="card">') == 120 and "The other" in text
    assert text.count("data:image/jpeg") >= 120 * 12
    store.close()
