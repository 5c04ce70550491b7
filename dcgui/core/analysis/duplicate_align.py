"""Is picture B the same photograph as picture A? A pixel-level check of one candidate pair.

Both images are the cache's thumbnails (long side <= 128 px, EXIF orientation applied). The
answer is a *difference*: after the best alignment of one image onto the other (the same
framing, or B a crop of A at 76-100 % of its width, or A of B), both are turned grey, blurred
to the same softness at 64 px, one is fitted to the other by gain and offset, and the
residual is measured in a 4 x 4 grid of blocks. The difference is the worst block's RMS
residual over the image's standard deviation. A re-encode, a resize, a format change or a small
crop leaves every block close (a copy's worst block stays below ~0.3); a burst shot, a stereo
partner or the same scene under other light leaves at least one block far off (>= ~0.35,
mostly > 0.8): a moving person, a shifted horizon. The maximum, not the mean, is what tells a
burst from a copy: most of a burst shot is identical.

Costs: ``identity_difference`` ~0.1 ms, ``crop_difference`` a few ms (a coarse search over 13
scales x all shifts at 32 px, then a local refinement at 64 px).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

FINE = 64  # long side of the compared images
COARSE = 32  # long side of the crop search
GRID = 4  # blocks per side
COMPARE = 16
CROP_BLUR = 1.0  # at FINE px
BLUR = 1.0  # Gaussian sigma at FINE px: softens resampling and JPEG differences alike
MIN_STD = 4.0  # grey levels: flatter images compare their residual to this instead
ASPECT_TOLERANCE = 0.04  # |log aspect ratio| under which two images may be the same framing
CROP_SCALES = np.linspace(1.0, 0.76, 9)
OVERHANG = 0.12  # how far (of a's size) b's region may reach beyond a's border on each side
MIN_OVERLAP = 0.75  # share of b that must overlap a
CONTAINED = 0.98  # share of b inside a for b to count as a crop of a
REFINE = 3  # coarse fits refined per pair  # region width / widest region of that aspect
INF = math.inf


@dataclass(frozen=True)
class Prepared:
    """One thumbnail's arrays for comparisons (float32 grey)."""

    square: np.ndarray  # FINE x FINE, aspect ignored, blurred: the same-framing comparison
    fine: np.ndarray  # long side FINE, aspect kept, not blurred: crops are resampled from it
    coarse: np.ndarray  # long side COARSE, aspect kept: the crop search
    side: int  # the thumbnail's long side in pixels

    @property
    def aspect(self) -> float:
        h, w = self.fine.shape
        return w / h


def _resize(im: Image.Image, side: int) -> Image.Image:
    w, h = im.size
    s = side / max(w, h)
    return im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BOX)


def _blur(a: np.ndarray, sigma: float = BLUR) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(a, sigma, mode="nearest").astype(np.float32, copy=False)


def prepare(rgb: np.ndarray) -> Prepared:
    """The arrays of one thumbnail (an (H, W, 3) uint8 RGB array)."""
    grey = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).convert("L")
    square = _blur(np.asarray(grey.resize((FINE, FINE), Image.Resampling.BOX), np.float32))
    fine = np.asarray(_resize(grey, FINE), np.float32)
    coarse = np.asarray(_resize(grey, COARSE), np.float32)
    return Prepared(square, fine, coarse, max(grey.size))


def block_residual(ref: np.ndarray, img: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Worst block's RMS residual of ``img`` after fitting ``ref`` to it by gain and offset,
    over ``img``'s standard deviation (at least ``MIN_STD``). Same-shape arrays; ``valid``
    (bool, same shape) limits the comparison to the overlap: blocks less than half inside it
    are skipped."""
    if valid is None:
        valid = np.ones(img.shape, bool)
    if valid.sum() < 4:
        return INF
    r = ref[valid].astype(np.float64)
    y = img[valid].astype(np.float64)
    rc, yc = r - r.mean(), y - y.mean()
    var = float(rc @ rc)
    gain = float(rc @ yc) / var if var > 1e-9 else 0.0
    res = np.zeros(img.shape, np.float64)
    res[valid] = yc - gain * rc
    h, w = img.shape
    ys = np.linspace(0, h, GRID + 1).round().astype(int)
    xs = np.linspace(0, w, GRID + 1).round().astype(int)
    worst = 0.0
    for i in range(GRID):
        for j in range(GRID):
            block = res[ys[i]:ys[i + 1], xs[j]:xs[j + 1]]
            inside = valid[ys[i]:ys[i + 1], xs[j]:xs[j + 1]]
            k = int(inside.sum())
            if k and 2 * k >= inside.size:
                worst = max(worst, math.sqrt(float((block * block).sum()) / k))
    return worst / max(float(y.std()), MIN_STD)


def identity_difference(a: Prepared, b: Prepared) -> float:
    """Difference of two images taken as the same framing (resized onto each other);
    ``inf`` when their aspect ratios differ too much for that."""
    if abs(math.log(a.aspect / b.aspect)) > ASPECT_TOLERANCE:
        return INF
    if min(a.side, b.side) < FINE:
        # tiny pictures (icons, the 28-px demo) are compared at their own size, unblurred: they
        # have no detail to spare, and their copies are rarely resampled
        side = min(a.side, b.side)
        sa, sb = _native(a, side), _native(b, side)
        return min(block_residual(sa, sb), block_residual(sb, sa))
    sa, sb = _shrink(a.square)[0], _shrink(b.square)[0]
    return min(block_residual(sa, sb), block_residual(sb, sa))


def _native(p: Prepared, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(p.fine).resize((side, side), Image.Resampling.BOX), np.float32)


def _box_sums(c: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sums over every h x w window, from an integral image ``c`` ((H+1) x (W+1))."""
    return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]


def _integral(a: np.ndarray) -> np.ndarray:
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1), np.float64)
    c[1:, 1:] = a.astype(np.float64).cumsum(0).cumsum(1)
    return c


def _search(a: Prepared, b: Prepared) -> list[tuple[float, float, float, float]]:
    """Coarse search for ``b`` as a region of ``a`` that may stick out of ``a`` by up to
    ``OVERHANG`` of a's size on each side (two crops of one photo overlap without either
    containing the other): the best (ncc, x, y, width) of each scale, in COARSE px of ``a``
    (x and y possibly negative), best first.

    Masked normalised cross-correlation over the overlap only, at every whole-pixel shift and
    each of ``CROP_SCALES``; positions where less than ``MIN_OVERLAP`` of ``b`` overlaps
    ``a`` are not considered.
    """
    ca, cb = a.coarse, b.coarse
    ha, wa = ca.shape
    hb, wb = cb.shape
    pad = max(1, round(OVERHANG * max(ha, wa)))
    ap = np.pad(ca, pad).astype(np.float64)
    mp = np.pad(np.ones_like(ca, dtype=np.float64), pad)
    ia, iaa, im = _integral(ap), _integral(ap * ap), _integral(mp)
    widest = min(wa, ha * wb / hb)  # the widest region of b's aspect that fits in a
    found = []
    for s in CROP_SCALES:
        w = round(widest * s)
        h = round(w * hb / wb)
        if w < 4 or h < 4:
            continue
        t = np.asarray(Image.fromarray(cb).resize((w, h), Image.Resampling.BILINEAR), np.float64)
        wins_a = sliding_window_view(ap, (h, w))
        wins_m = sliding_window_view(mp, (h, w))
        n = _box_sums(im, h, w)
        sa, saa = _box_sums(ia, h, w), _box_sums(iaa, h, w)
        sab = np.einsum("ijkl,kl->ij", wins_a, t)
        sb = np.einsum("ijkl,kl->ij", wins_m, t)
        sbb = np.einsum("ijkl,kl->ij", wins_m, t * t)
        ok = n >= MIN_OVERLAP * h * w
        nn = np.maximum(n, 1.0)
        cov = sab - sa * sb / nn
        var = np.maximum(saa - sa * sa / nn, 1e-6) * np.maximum(sbb - sb * sb / nn, 1e-6)
        ncc = np.where(ok, cov / np.sqrt(var), -2.0)
        k = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
        found.append((float(ncc[k]), float(k[1] - pad), float(k[0] - pad), float(w)))
    return sorted(found, reverse=True)


def _refine(a: Prepared, b: Prepared, best: tuple[float, float, float, float]) -> tuple[float, float]:
    """(difference, share) of ``b`` and the region of ``a`` found by ``_search``, refined;
    ``share`` is the region's area over ``a``'s area when the region lies inside ``a`` (how much
    of ``a``'s picture ``b`` shows), else 1.

    Three rounds of +-1, 1/2, 1/4 px and +-1.5, 0.75, 0.4 % of the width at FINE px refine
    the region (bilinear samples of the slightly blurred image, so that the sub-pixel phase
    matters less); the comparison is at the region's own size (neither side upsampled) and
    over the overlap only.
    """
    if best[0] <= 0.0:
        return INF, 1.0
    wa = a.coarse.shape[1]
    fa, fb = a.fine, b.fine
    big_w = fa.shape[1]
    f = big_w / wa
    src = _blur(fa, CROP_BLUR)
    aspect = fb.shape[0] / fb.shape[1]
    x, y, w = best[1] * f, best[2] * f, best[3] * f
    out_w = max(4, min(fb.shape[1], round(w)))
    out_h = max(4, min(fb.shape[0], round(out_w * aspect)))
    target = np.asarray(Image.fromarray(_blur(fb, CROP_BLUR)).resize((out_w, out_h), Image.Resampling.BOX),
                        np.float32)
    params = np.array([[x, y, w]])
    step, dw = 1.0, 0.015 * w
    for _ in range(3):
        off = np.array([(i * step, j * step, k * dw) for i in (-1, 0, 1) for j in (-1, 0, 1)
                        for k in (-1, 0, 1)])
        params = params[0] + off
        regions, valid = _sample(src, params, out_w, out_h)
        params = params[[int(np.argmax(_ncc_rows(regions, valid, target)))]]
        step, dw = step / 2, dw / 2
    regions, valid = _sample(src, params, out_w, out_h)
    inside = float(valid[0].mean())
    if inside < MIN_OVERLAP:
        return INF, 1.0
    ra, va = _shrink(regions[0], valid[0])
    tb, _ = _shrink(target)
    w = float(params[0, 2])
    # a region reaching out of a (two crops of a third photo) is no crop of a: share 1
    share = w * (w * aspect) / (fa.shape[0] * fa.shape[1]) if inside >= CONTAINED else 1.0
    return block_residual(ra, tb, va), share


def _shrink(a: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``a`` averaged down to long side ``COMPARE`` (sub-pixel resampling noise averages out,
    a changed object a few px across at FINE does not), and where it is wholly valid."""
    h, w = a.shape
    s = COMPARE / max(h, w)
    if valid is None:
        valid = np.ones(a.shape, bool)
    if s >= 1:
        return a, valid
    size = (max(2, round(w * s)), max(2, round(h * s)))
    small = np.asarray(Image.fromarray(np.where(valid, a, 0).astype(np.float32)).resize(size, Image.Resampling.BOX),
                       np.float32)
    cover = np.asarray(Image.fromarray(valid.astype(np.float32)).resize(size, Image.Resampling.BOX), np.float32)
    ok = cover > 0.999
    return np.where(ok, small / np.maximum(cover, 1e-6), 0).astype(np.float32), ok


def _sample(img: np.ndarray, params: np.ndarray, out_w: int, out_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear samples of ``img`` over each region (x, y, width) on an out_h x out_w grid:
    (len(params), out_h, out_w), and which samples fall inside ``img``. Separable (rows, then
    columns): the regions are axis-aligned."""
    s = params[:, 2] / out_w
    xs = params[:, 0, None] + (np.arange(out_w) + 0.5)[None] * s[:, None] - 0.5  # (n, W)
    ys = params[:, 1, None] + (np.arange(out_h) + 0.5)[None] * s[:, None] - 0.5  # (n, H)
    h, w = img.shape
    valid = (((ys >= -0.5) & (ys <= h - 0.5))[:, :, None] & ((xs >= -0.5) & (xs <= w - 0.5))[:, None, :])
    xs, ys = np.clip(xs, 0, w - 1), np.clip(ys, 0, h - 1)
    x0 = np.minimum(xs.astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(ys.astype(np.int64), max(h - 2, 0))
    fx = (xs - x0).astype(np.float32)[:, None, :]
    fy = (ys - y0).astype(np.float32)[:, :, None]
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    rows = img[y0] * (1 - fy) + img[y1] * fy  # (n, H, w)
    idx = np.arange(len(params))[:, None, None]
    oy = np.arange(out_h)[None, :, None]
    out = rows[idx, oy, x0[:, None, :]] * (1 - fx) + rows[idx, oy, x1[:, None, :]] * fx
    return out, valid


def _ncc_rows(regions: np.ndarray, valid: np.ndarray, target: np.ndarray) -> np.ndarray:
    """NCC of each region with ``target`` over its valid samples (-2 where too few)."""
    m = valid.reshape(len(regions), -1).astype(np.float64)
    r = regions.reshape(len(regions), -1).astype(np.float64) * m
    t = target.ravel().astype(np.float64)
    n = np.maximum(m.sum(axis=1), 1.0)
    sr, st = r.sum(axis=1), m @ t
    cov = r @ t - sr * st / n
    vr = (r * r).sum(axis=1) - sr * sr / n
    vt = m @ (t * t) - st * st / n
    out = cov / np.sqrt(np.maximum(vr, 1e-9) * np.maximum(vt, 1e-9))
    return np.where(m.mean(axis=1) >= MIN_OVERLAP, out, -2.0)


def crop_difference(a: Prepared, b: Prepared) -> float:
    """Difference when the two images show overlapping regions of one photo at scales within
    ``CROP_SCALES`` of each other (one a crop of the other, or both crops of a third).
    ``crop_fit`` also says which shows more of the photo.

    ``inf`` when either thumbnail is smaller than ``FINE`` px: a tiny picture has too little
    detail for a crop to be told from another picture of similar shape (measured on the
    28-px demo: different trousers "matched" as crops of each other).
    """
    return crop_fit(a, b)[0]


def crop_fit(a: Prepared, b: Prepared) -> tuple[float, float]:
    """(difference, content ratio) of the best crop alignment: the ratio is the area of the photo
    ``b`` shows over the area ``a`` shows, measured in the overlap (< 1: ``b`` is a crop of ``a``;
    > 1: ``a`` of ``b``; 1 when no fit is found). ``(inf, 1.0)`` for thumbnails under ``FINE``
    px, as in ``crop_difference``."""
    if min(a.side, b.side) < FINE:
        return INF, 1.0
    # refine the REFINE best coarse fits of either direction (a texture can fool one of them)
    fits = [(f, False) for f in _search(a, b)] + [(f, True) for f in _search(b, a)]
    fits.sort(key=lambda t: -t[0][0])
    best, ratio = INF, 1.0
    for f, swap in fits[:REFINE]:
        d, share = _refine(b, a, f) if swap else _refine(a, b, f)
        if d < best:
            # swap: a is the region of b, so b shows 1/share times what a shows
            best, ratio = d, (1.0 / max(share, 1e-6) if swap else share)
    return best, ratio
