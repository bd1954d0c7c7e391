"""Seeded random streams.

Every random draw in the generator comes from a ``numpy.random.Generator`` made by
:func:`stream` from ``(dataset seed, scene index, purpose)`` and passed explicitly.
No module draws from global state (``random``, ``np.random.<function>``) or the clock;
``tests/test_no_global_randomness.py`` enforces this.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _purpose_key(purpose: str) -> int:
    digest = hashlib.sha256(purpose.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def stream(seed: int, index: int, purpose: str) -> np.random.Generator:
    """The random stream for one purpose of one scene.

    Streams for different ``(seed, index, purpose)`` are statistically independent;
    the same triple always gives the same stream on every machine.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    seq = np.random.SeedSequence([int(seed), int(index), _purpose_key(purpose)])
    return np.random.Generator(np.random.PCG64(seq))
