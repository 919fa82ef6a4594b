"""Where implanted targets go: compact shapes of an exact pixel count, placed away from everything.

A target of ``n`` pixels is a near-square: rows of width ``ceil(sqrt(n))``, the last row partial
(1 -> 1 x 1, 4 -> 2 x 2, 25 -> 5 x 5, 300 -> 16 rows of 18 + a row of 12). Targets are placed
largest first, each uniformly at random among the positions where its bounding box keeps
``margin`` pixels (Chebyshev distance) from the raster's edges, from the scene's labelled
anomalies and from every target placed before it. All of it is pure numpy and deterministic from
the generator it is given.
"""

from __future__ import annotations

import math

import numpy as np


def target_shape(pixels: int) -> np.ndarray:
    """Boolean footprint ``(rows, cols)`` of a compact target with exactly ``pixels`` pixels.

    Raises:
        ValueError: ``pixels`` < 1.
    """
    if pixels < 1:
        raise ValueError(f"a target needs at least 1 pixel, got {pixels}")
    width = math.ceil(math.sqrt(pixels))
    rows = math.ceil(pixels / width)
    shape = np.zeros((rows, width), dtype=bool)  # (rows, cols)
    shape.reshape(-1)[:pixels] = True
    return shape


def dilate(mask: np.ndarray, margin: int) -> np.ndarray:
    """``mask`` grown by ``margin`` pixels in every direction (a square structuring element)."""
    if margin <= 0 or not mask.any():
        return mask.copy()
    grown = mask.copy()
    rows, cols = mask.shape
    for dr in range(-margin, margin + 1):
        for dc in range(-margin, margin + 1):
            src = mask[max(0, -dr):rows - max(0, dr), max(0, -dc):cols - max(0, dc)]
            grown[max(0, dr):rows - max(0, -dr), max(0, dc):cols - max(0, -dc)] |= src
    return grown


def free_positions(blocked: np.ndarray, box: tuple[int, int], margin: int) -> np.ndarray:
    """Top-left corners ``(k, 2)`` where a ``box`` keeps ``margin`` pixels from blocked pixels and edges.

    Args:
        blocked: bool ``(H, W)``, True where nothing may be placed nearby.
        box: ``(rows, cols)`` of the target's bounding box.
        margin: pixels kept free around the box.

    Returns:
        Row/column pairs in row-major order (possibly empty).
    """
    height, width = blocked.shape
    rows, cols = box
    forbidden = dilate(blocked, margin)  # (H, W)
    # Summed-area table: the number of forbidden pixels under any box in O(1).
    table = np.zeros((height + 1, width + 1), dtype=np.int64)
    table[1:, 1:] = forbidden.cumsum(axis=0).cumsum(axis=1)
    top = np.arange(margin, height - margin - rows + 1)
    left = np.arange(margin, width - margin - cols + 1)
    if top.size == 0 or left.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    r0, c0 = np.meshgrid(top, left, indexing="ij")  # (nr, nc)
    count = (table[r0 + rows, c0 + cols] - table[r0, c0 + cols]
             - table[r0 + rows, c0] + table[r0, c0])  # (nr, nc)
    free = count == 0
    return np.stack([r0[free], c0[free]], axis=1)


def place_targets(labels: np.ndarray, sizes: list[int], margin: int,
                  rng: np.random.Generator) -> list[np.ndarray]:
    """Place one target per entry of ``sizes``; returns their boolean masks in the given order.

    Targets are placed largest first (the hardest to fit), each away from the labels, the edges
    and the targets already placed (see the module docstring).

    Args:
        labels: bool ``(H, W)``, the scene's labelled anomalies.
        sizes: pixel count of each target.
        margin: free pixels kept around every target.
        rng: the generator that decides the positions.

    Returns:
        One bool ``(H, W)`` mask per entry of ``sizes``, with exactly that many pixels.

    Raises:
        ValueError: a target does not fit anywhere (the message names the size and the scene's
            size); use fewer or smaller targets per copy, or a smaller margin.
    """
    blocked = labels.astype(bool).copy()  # (H, W)
    masks: list[np.ndarray | None] = [None] * len(sizes)
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        shape = target_shape(sizes[index])
        spots = free_positions(blocked, (shape.shape[0], shape.shape[1]), margin)
        if len(spots) == 0:
            raise ValueError(
                f"no room for a {sizes[index]}-pixel target in a {blocked.shape[0]} x "
                f"{blocked.shape[1]} scene with margin {margin} after {len(sizes) - masks.count(None)} "
                "target(s); spread the sizes over more implant copies")
        row, col = spots[rng.integers(len(spots))]
        mask = np.zeros_like(blocked)
        mask[row:row + shape.shape[0], col:col + shape.shape[1]] = shape
        blocked |= mask
        masks[index] = mask
    return [m for m in masks if m is not None]
