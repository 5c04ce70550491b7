"""Aligning one 2-D map to another (orthogonal Procrustes), so that the map over epochs does not
spin, flip or jump between epochs: only the images that moved relative to the others move."""

from __future__ import annotations

import numpy as np


def procrustes(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``x`` rotated (or reflected), uniformly scaled and shifted to best match ``ref`` row for row
    (least squares; Schönemann 1966). float32 (N, 2)."""
    x = np.asarray(x, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if x.shape != ref.shape or x.ndim != 2:
        raise ValueError(f"procrustes: shapes differ ({x.shape} and {ref.shape})")
    if len(x) == 0:
        return x.astype(np.float32)
    mx, mr = x.mean(axis=0), ref.mean(axis=0)
    xc, rc = x - mx, ref - mr
    u, s, vt = np.linalg.svd(xc.T @ rc)
    rot = u @ vt
    norm = float((xc ** 2).sum())
    scale = float(s.sum()) / norm if norm > 0 else 1.0
    return (scale * xc @ rot + mr).astype(np.float32)
