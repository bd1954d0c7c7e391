"""Metrics over the trial table (vpt/trials/schema.py): scores with bootstrap intervals,
signal detection, error consistency, noise ceilings, psychometric fits along sweeps, and
grouping by model metadata. Pure numpy/pandas/scipy; every function takes a conforming
DataFrame (or its `Prepared` form) and an explicit `numpy.random.Generator` where it draws."""
