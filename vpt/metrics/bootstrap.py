"""Vectorised bootstraps: resampling weights shared across decision makers, and the
participants-then-trials bootstrap for pooled humans.

A resample of U units is a row of multinomial counts (how often each unit was drawn); a
statistic that is a ratio of per-unit sums is then a matrix product of the per-unit sums
(decision makers x units) with the weights (units x resamples). Every decision maker of a
(task, split) shares the same resamples, so their intervals are paired: a difference
between two of them is resampled with the same scenes.
"""

from __future__ import annotations

import warnings

import numpy as np


def resample_counts(rng: np.random.Generator, n_units: int, n_boot: int) -> np.ndarray:
    """(n_boot, n_units) float array: how often each unit is drawn in each resample."""
    if n_units == 0:
        return np.zeros((n_boot, 0))
    idx = rng.integers(0, n_units, size=(n_boot, n_units))
    flat = (idx + np.arange(n_boot)[:, None] * n_units).ravel()
    return np.bincount(flat, minlength=n_boot * n_units).reshape(n_boot, n_units).astype(np.float64)


def ratio_boot(num: np.ndarray, den: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Resampled sum(num)/sum(den) per row: (rows, units) sums, (B, units) weights -> (rows, B).
    NaN where a resample has a zero denominator."""
    top, bottom = num @ weights.T, den @ weights.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along the last axis, ignoring NaN resamples."""
    a = (1 - level) / 2 * 100
    if not samples.size:
        return np.full(samples.shape[:-1], np.nan), np.full(samples.shape[:-1], np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row gives a NaN interval
        if not np.isnan(samples).any():
            lo, hi = np.percentile(samples, [a, 100 - a], axis=-1)
        else:
            lo, hi = np.nanpercentile(samples, [a, 100 - a], axis=-1)
    return lo, hi


def draw_participants(rng: np.random.Generator, n_participants: int, n_boot: int) -> np.ndarray:
    """(n_boot, n_participants) indices: the first stage of the participants-then-trials bootstrap."""
    return rng.integers(0, max(n_participants, 1), size=(n_boot, n_participants))


def trial_rates(rng: np.random.Generator, who: np.ndarray, correct: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Second stage: each drawn participant's trials resampled with replacement.

    Resampling n trials of which k are correct draws Binomial(n, k/n) correct ones, so this
    is one binomial draw per (resample, participant slot). Returns (n_boot, slots) rates,
    NaN where a drawn participant has no trials.
    """
    nn = n[who]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, correct / np.where(n > 0, n, 1), 0.0)
        k = rng.binomial(nn.astype(np.int64), rate[who])
        return np.where(nn > 0, k / np.where(nn > 0, nn, 1), np.nan)
