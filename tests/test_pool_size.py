"""The pool benchmark (benchmarks/pool_size.py): smaller pools are prefixes of the planned pool,
and its table runs."""

from collections import Counter

import numpy as np

from benchmarks import pool_size
from vpt.datasets.balance import quotas


def _synthetic_pool(factor: int, seed: int = 0):
    quota = quotas(64, 0.5, 0.5)
    strata = [s for s, n in quota.items() for _ in range(n * factor)]
    order = np.random.default_rng(seed).permutation(len(strata))
    strata = [strata[i] for i in order]
    names = ["a", "b"]
    gen = np.random.default_rng(seed + 1)
    cues = np.stack([[gen.normal(s.vpt), gen.normal()] for s in strata])
    return {"quota": quota, "strata": strata, "cues": cues, "names": names}


def test_selection_keeps_quotas_and_uses_a_prefix_of_each_stratum():
    pool = _synthetic_pool(4)
    for factor in (1, 2, 4):
        table = pool_size._select(pool, factor)
        assert len(table) == sum(pool["quota"].values())
        assert Counter(table["vpt_label"]) == Counter({0: 32, 1: 32})
    # factor 1 has no choice: it keeps exactly the first quota of every stratum
    first, seen = [], Counter()
    for i, s in enumerate(pool["strata"]):
        if seen[s] < pool["quota"][s]:
            seen[s] += 1
            first.append(i)
    np.testing.assert_allclose(np.sort(pool_size._select(pool, 1)["a"].to_numpy()),
                               np.sort(pool["cues"][first, 0]))


def test_a_larger_pool_matches_a_separable_cue_better():
    pool = _synthetic_pool(6)
    gaps = []
    for factor in (1, 6):
        t = pool_size._select(pool, factor)
        gaps.append(abs(t.loc[t.vpt_label == 1, "a"].mean() - t.loc[t.vpt_label == 0, "a"].mean()))
    assert gaps[1] < 0.5 * gaps[0]


def test_the_selection_carries_cells_for_the_per_cell_table():
    from vpt.datasets.audit import audit_cues

    pool = _synthetic_pool(4)
    table = pool_size._select(pool, 4)
    assert set(table["cell"]) == {s.cell for s in pool["quota"]}
    assert set(table.loc[table.vpt_label == 0, "hidden_reason"]) == {"occluded", "out_of_view"}
    assert set(table.loc[table.vpt_label == 1, "hidden_reason"]) == {""}
    table = table.rename(columns={"a": "ball_x", "b": "ball_y"})  # cue names the audit knows
    table["split"] = np.where(np.arange(len(table)) % 2 == 0, "train", "test")
    cells = audit_cues(table, permutations=0).by_cell
    assert set(cells.index) == set(table["cell"]) and cells["n"].sum() == (table["split"] == "test").sum()


def test_an_unknown_recipe_is_one_line(capsys):
    assert pool_size.main(["--recipe", "no-such-recipe"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-recipe: no such recipe file" in err
