"""Procrustes alignment of 2-D maps: a rotated, flipped, scaled and shifted copy comes back."""

from __future__ import annotations

import numpy as np
import pytest

from dcgui.core.analysis.align2d import procrustes


def test_recovers_a_transformed_copy() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(200, 2))
    a = 0.7
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.diag([1, -1])  # rotate + flip
    moved = 3.5 * ref @ rot + np.array([10.0, -4.0])
    np.testing.assert_allclose(procrustes(moved, ref), ref, atol=1e-4)
    noisy = moved + rng.normal(scale=0.01, size=moved.shape)
    assert np.abs(procrustes(noisy, ref) - ref).max() < 0.05


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        procrustes(np.zeros((3, 2)), np.zeros((4, 2)))
    assert procrustes(np.zeros((0, 2)), np.zeros((0, 2))).shape == (0, 2)
