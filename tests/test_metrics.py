"""vpt.metrics against values computed by hand, edge cases, and planted truths."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from sklearn.metrics import cohen_kappa_score

from vpt.errors import UserError
from vpt.metrics import synthetic as S
from vpt.metrics.bootstrap import resample_counts
from vpt.metrics.consistency import kappa_from_counts, kappa_pairs, kappa_summary, noise_ceiling, spearman_brown
from vpt.metrics.frame import HUMANS, generator, prepare
from vpt.metrics.metadata import (MetadataError, load_model_list, load_model_lists, load_reference, match_models,
                                  top1_correlation)
from vpt.metrics.psychometric import RIDGE, aligned_x, fit_logistic, one_step_boot, refine, sweep_fits
from vpt.metrics.scores import accuracy_table, permutation_floor, sdt
from vpt.trials.schema import conform


def rows(dm: str, kind: str, labels: list, responses: list, task: str = "vpt", split: str = "test",
         scenes: list[str] | None = None, sweep: list | None = None, steps: list | None = None) -> pd.DataFrame:
    """Trial rows for one decision maker (None = null)."""
    n = len(labels)
    lab = pd.array(labels, dtype="Int64")
    resp = pd.array(responses, dtype="Int64")
    corr = pd.array([None if (a is None or b is None) else a == b for a, b in zip(labels, responses)], dtype="boolean")
    return pd.DataFrame({
        "run_id": "r", "kind": kind, "decision_maker": dm, "task": task, "dataset": "d", "dataset_hash": "h",
        "split": split, "scene_id": scenes or [f"s{i}" for i in range(n)],
        "sweep_id": sweep if sweep is not None else [None] * n,
        "sweep_step": pd.array(steps if steps is not None else [None] * n, dtype="Int64"),
        "variant": "default", "repeat": 0, "label": lab, "response": resp, "correct": corr, "score": np.nan,
        "rt_ms": np.nan, "seed": 0, "created_at": pd.Timestamp("2026-01-01", tz="UTC")})


def table(*parts: pd.DataFrame) -> pd.DataFrame:
    return conform(pd.concat(parts, ignore_index=True))


def one(acc: pd.DataFrame, dm: str, task: str = "vpt", split: str = "test") -> pd.Series:
    r = acc[(acc["decision_maker"] == dm) & (acc["task"] == task) & (acc["split"] == split)]
    assert len(r) == 1
    return r.iloc[0]


# ---------------------------------------------------------------- scores


def test_accuracy_counts_invalid_as_wrong_and_never_scores_unlabelled_rows():
    df = table(rows("a", "probe", [1, 1, 0, 0, None], [1, 0, 0, None, 1]))
    r = one(accuracy_table(prepare(df), generator(0), n_boot=200), "a")
    assert (r["n_rows"], r["n_labelled"], r["n_unlabelled"], r["n_invalid"]) == (5, 4, 1, 1)
    assert r["accuracy"] == pytest.approx(2 / 4) and r["invalid_rate"] == pytest.approx(1 / 4)
    assert r["balanced_accuracy"] == pytest.approx((1 / 2 + 1 / 2) / 2)  # label 1: 1 of 2; label 0: 1 of 2
    assert r["majority_rate"] == pytest.approx(0.5) and r["chance"] == 0.5
    # valid labelled rows: label 1 -> responses 1, 0 (1 hit of 2); label 0 -> response 0 (0 false alarms of 1)
    h, f = (1 + 0.5) / (2 + 1), (0 + 0.5) / (1 + 1)
    assert r["hit_rate"] == pytest.approx(h) and r["fa_rate"] == pytest.approx(f)
    assert r["dprime"] == pytest.approx(stats.norm.ppf(h) - stats.norm.ppf(f))
    assert r["criterion"] == pytest.approx(-(stats.norm.ppf(h) + stats.norm.ppf(f)) / 2)
    assert r["accuracy_lo"] <= r["accuracy"] <= r["accuracy_hi"]


def test_yes_to_everything_shows_in_the_criterion_not_in_d_prime():
    h, f, d, c = sdt(np.array([50]), np.array([50]), np.array([50]), np.array([50]))
    assert d[0] == pytest.approx(0.0) and c[0] < -2  # log-linear: rates 50.5/51, finite
    assert np.isfinite(h[0]) and h[0] == pytest.approx(50.5 / 51)


def test_a_decision_maker_invalid_on_everything():
    df = table(rows("mute", "vlm", [1, 0, 1, 0], [None] * 4), rows("ok", "probe", [1, 0, 1, 0], [1, 0, 1, 1]))
    r = one(accuracy_table(prepare(df), generator(0), n_boot=100), "mute")
    assert r["accuracy"] == 0 and r["invalid_rate"] == 1 and r["n_invalid"] == 4
    assert r["accuracy_lo"] == 0 and r["accuracy_hi"] == 0 and r["balanced_accuracy"] == 0
    assert math.isnan(r["dprime"]) and r["perm_floor"] == 0


def test_permutation_floor_is_the_exact_permutation_quantile():
    labels = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    resp = np.array([1, 1, 1, 0, 0, 1, 1, 0, 0, 0])
    accs = []
    for ones in itertools.combinations(range(10), 5):  # every distinct labelling with five 1s
        lab = np.zeros(10, int)
        lab[list(ones)] = 1
        accs.append((lab == resp).mean())
    accs = np.sort(accs)
    expect = accs[int(math.ceil(0.95 * len(accs))) - 1]  # smallest value with >= 95 % of permutations at or below
    got = permutation_floor(np.array([10]), np.array([10]), np.array([labels.sum()]), np.array([resp.sum()]))[0]
    assert got == pytest.approx(expect)


def test_random_answers_sit_near_chance_with_a_ci_covering_half():
    rng = generator(3)
    n = 2000
    labels = rng.integers(0, 2, n).tolist()
    df = table(rows("coin", "probe", labels, rng.integers(0, 2, n).tolist()))
    r = one(accuracy_table(prepare(df), generator(4), n_boot=1000), "coin")
    assert r["accuracy_lo"] < 0.5 < r["accuracy_hi"] and abs(r["accuracy"] - 0.5) < 0.04
    width = r["accuracy_hi"] - r["accuracy_lo"]
    assert width == pytest.approx(2 * 1.96 * math.sqrt(0.25 / n), rel=0.2)  # binomial theory
    assert r["perm_floor"] > 0.5 and r["accuracy"] < r["perm_floor"] + 0.01


def test_sweeps_resample_whole_sweeps_and_humans_participants_then_trials():
    sweep = [f"w{i // 5}" for i in range(20)]
    steps = [i % 5 for i in range(20)]
    labels = [1, 1, 0, 0, 0] * 4
    df = table(rows("m", "probe", labels, [1] * 20, split="sweep", sweep=sweep, steps=steps,
                    scenes=[f"w{i // 5}-{i % 5}" for i in range(20)]),
               rows("p1", "human", [1, 0, 1, 0], [1, 0, 1, 1], split="human"),
               rows("p2", "human", [1, 0, 1, 0], [1, 0, 0, 1], split="human"),
               rows("p3", "human", [1, 0, 1, 0], [1, 0, 1, 0], split="human"))
    acc = accuracy_table(prepare(df), generator(0), n_boot=500)
    m = one(acc, "m", split="sweep")
    assert m["unit"] == "sweep" and m["n_units"] == 4 and m["accuracy"] == pytest.approx(0.4)
    assert m["accuracy_lo"] == m["accuracy_hi"] == pytest.approx(0.4)  # every sweep scores 2/5
    h = one(acc, HUMANS, split="human")
    assert h["unit"] == "participant, then trial" and h["n_participants"] == 3
    assert h["accuracy"] == pytest.approx(np.mean([0.75, 0.5, 1.0]))
    assert h["sd_participants"] == pytest.approx(np.std([0.75, 0.5, 1.0], ddof=1))
    assert h["accuracy_lo"] < h["accuracy"] < h["accuracy_hi"]


def test_resample_counts_draw_every_unit_as_often_as_the_units():
    w = resample_counts(generator(0), 7, 300)
    assert w.shape == (300, 7) and (w.sum(1) == 7).all() and abs(w.mean() - 1) < 0.05


# ---------------------------------------------------------------- error consistency


def test_kappa_by_hand_and_against_sklearn():
    a = [1, 1, 0, 0, 1, 0, 1, 1]
    b = [1, 0, 0, 1, 1, 0, 1, 0]
    n, both = 8, sum(x and y for x, y in zip(a, b))
    k = kappa_from_counts(n, both, sum(a), sum(b))
    # c_obs = (3 both right + 2 both wrong) / 8; c_exp = 5/8 * 4/8 + 3/8 * 4/8 = 0.5
    assert k["c_obs"] == pytest.approx(5 / 8) and k["c_exp"] == pytest.approx(0.5)
    assert k["kappa"] == pytest.approx(0.25) and k["kappa_max"] == pytest.approx((1 - 1 / 8 - 0.5) / 0.5)
    assert k["kappa"] == pytest.approx(cohen_kappa_score(a, b))


def test_kappa_when_one_side_is_always_right():
    k = kappa_from_counts(10, 6, 10, 6)
    assert k["kappa"] == pytest.approx(0.0) and k["kappa_max"] == pytest.approx(0.0)
    both_perfect = kappa_from_counts(10, 10, 10, 10)
    assert math.isnan(both_perfect["kappa"])  # c_exp = 1: undefined, not 0 or 1


def test_kappa_pairs_join_on_shared_trials_and_count_invalid_as_wrong():
    a = rows("a", "probe", [1, 1, 0, 0, 1], [1, 1, 0, 1, 0])
    b = rows("b", "probe", [1, 1, 0, 0], [1, None, 0, 1], scenes=["s0", "s1", "s2", "s3"])
    pairs, mats = kappa_pairs(prepare(table(a, b)))
    r = pairs.iloc[0]
    # shared: s0..s3; a correct 1,1,1,0; b correct 1,0(invalid),1,0
    expect = kappa_from_counts(4, 2, 3, 2)
    assert r["n_shared"] == 4 and r["kappa"] == pytest.approx(float(expect["kappa"]))
    assert mats["vpt"].loc["a", "b"] == pytest.approx(float(expect["kappa"]))


def test_a_copy_of_anothers_errors_sits_near_kappa_max_and_an_independent_one_near_zero():
    rng = generator(5)
    stim = S.stimuli(1500, 0, 0, 0, rng)
    dms = [S.Planted("orig", "probe", {"vpt": 0.8, "depth": 0.8}),
           S.Planted("copy", "probe", {"vpt": 0.8, "depth": 0.8}, copy_of="orig", copy_share=0.95),
           S.Planted("h1", "human", {"vpt": 2.0, "depth": 1.0}, splits=("test",)),
           S.Planted("h2", "human", {"vpt": 2.0, "depth": 1.0}, splits=("test",))]
    stim["difficulty"] = 0.0  # no shared item difficulty: independent decision makers share errors by chance only
    df = conform(S.trial_table(stim, dms, rng))
    pairs, _ = kappa_pairs(prepare(df))
    vpt = pairs[pairs["task"] == "vpt"].set_index(["decision_maker_a", "decision_maker_b"])
    cp = vpt.loc[("copy", "orig")]
    assert cp["kappa"] / cp["kappa_max"] > 0.85
    assert abs(vpt.loc[("copy", "h1"), "kappa"]) < 0.1 and abs(vpt.loc[("h1", "orig"), "kappa"]) < 0.1
    summ = kappa_summary(pairs).set_index(["task", "pair"])
    assert summ.loc[("vpt", "human-human"), "kappa_mean"] == pytest.approx(vpt.loc[("h1", "h2"), "kappa"])
    assert summ.loc[("vpt", "human-human"), "n_pairs"] == 1


# ---------------------------------------------------------------- noise ceiling


def test_spearman_brown():
    assert spearman_brown(0.5) == pytest.approx(2 / 3) and spearman_brown(0.0) == 0


def test_ceiling_with_two_participants_and_a_model_on_the_same_halves():
    rng = generator(6)
    n = 60
    labels = rng.integers(0, 2, n).tolist()
    r1, r2 = rng.integers(0, 2, n).tolist(), rng.integers(0, 2, n).tolist()
    scenes = [f"s{i}" for i in range(n)]
    df = table(rows("p1", "human", labels, r1, split="human", scenes=scenes),
               rows("p2", "human", labels, r2, split="human", scenes=scenes),
               rows("m", "probe", labels, r1, split="human", scenes=scenes))  # the model answers like p1
    ceil, cons = noise_ceiling(prepare(df), generator(7), n_splits=20)
    c1, c2 = (np.array(labels) == np.array(r1)).astype(float), (np.array(labels) == np.array(r2)).astype(float)
    r = np.corrcoef(c1, c2)[0, 1]
    row = ceil.iloc[0]
    assert row["n_participants"] == 2 and row["split_half_r"] == pytest.approx(r)
    assert row["ceiling"] == pytest.approx(2 * r / (1 + r)) and row["ceiling_lo"] == pytest.approx(row["ceiling_hi"])
    m = cons.set_index("decision_maker").loc["m"]
    assert m["r_with_half"] == pytest.approx((1 + r) / 2)  # r = 1 with p1's half, r with p2's


def test_no_ceiling_from_one_participant():
    df = table(rows("p1", "human", [1, 0, 1], [1, 1, 1], split="human"), rows("m", "probe", [1, 0, 1], [1, 0, 0],
                                                                                split="human"))
    ceil, cons = noise_ceiling(prepare(df), generator(0))
    assert ceil.empty and cons.empty


# ---------------------------------------------------------------- psychometric fits


def test_aligned_x_is_the_signed_distance_to_the_nearest_flip():
    x = aligned_x(np.array([0.0, 1, 2, 3, 4]), np.array([1, 1, -1, 0, 0]))
    assert x.tolist() == [2.0, 1.0, 0.0, -1.0, -2.0]  # flip at 2, label 1 toward smaller values
    x = aligned_x(np.array([0.0, 1, 2, 3, 4, 5]), np.array([1, 0, 0, 0, 0, 1]))
    assert x.tolist() == [0.5, -0.5, -1.5, -1.5, -0.5, 0.5]
    assert np.isnan(aligned_x(np.array([0.0]), np.array([1]))).all()  # a sweep with one step: no flip


def test_newton_fit_matches_scipy_on_the_same_penalised_likelihood():
    rng = generator(8)
    z = np.linspace(-1, 1, 9)
    n = rng.integers(1, 20, 9).astype(float)
    k = rng.binomial(n.astype(int), 1 / (1 + np.exp(-(0.3 + 2 * z)))).astype(float)

    def nll(t):
        eta = t[0] + t[1] * z
        return np.sum(n * np.logaddexp(0, eta) - k * eta) + RIDGE / 2 * (t @ t)

    ref = optimize.minimize(nll, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    got, conv = fit_logistic(k[None], n[None], z)
    assert conv.all() and got[0] == pytest.approx(ref, abs=1e-5)


def test_one_step_resamples_agree_with_refitted_resamples():
    rng = generator(9)
    n_sweeps, steps = 12, 9
    z = np.tile(np.linspace(-1, 1, steps), n_sweeps)
    group = np.repeat(np.arange(n_sweeps), steps)
    n = np.full((1, len(z)), 4.0)
    k = rng.binomial(4, 1 / (1 + np.exp(-(0.2 + 3 * z))))[None].astype(float)
    theta, _ = fit_logistic(k, n, z)
    w = resample_counts(generator(10), n_sweeps, 400)
    fast = refine(k, n, z, one_step_boot(k, n, z, theta, group, w), w[:, group])[0]
    full, _ = fit_logistic(k * w[:, group], n * w[:, group], z, init=theta, iters=50)
    for j in range(2):
        assert np.percentile(fast[:, j], [2.5, 97.5]) == pytest.approx(np.percentile(full[:, j], [2.5, 97.5]),
                                                                       abs=0.1 * np.std(full[:, j]))


def test_planted_psychometric_curves_are_recovered_and_partial_steps_not_fitted():
    rng = generator(11)
    stim = S.stimuli(0, 0, 0, 30, rng)
    dms = [S.Planted("sharp", "probe", {"vpt": 0, "depth": 0}, slope=2.0),
           S.Planted("flat", "probe", {"vpt": 0, "depth": 0}, slope=0.0)]
    df = conform(S.trial_table(stim, dms * 1, rng))
    fits, curves = sweep_fits(prepare(df), generator(12), n_boot=400)
    f = fits[(fits["task"] == "vpt") & (fits["sweep_kind"] == "occluder_slide")].set_index("decision_maker")
    s = f.loc["sharp"]
    assert s["slope_lo"] < 2.0 < s["slope_hi"] and s["threshold_lo"] < 0 < s["threshold_hi"]
    assert s["n_points"] == 30 * 13 and s["n_sweeps"] == 30  # 15 steps, 2 partial ones left out
    fl = f.loc["flat"]
    assert fl["slope_lo"] < 0 < fl["slope_hi"]
    partial = curves[(curves["task"] == "vpt") & (curves["sweep_kind"] == "occluder_slide") & ~curves["fitted"]]
    assert len(partial) and (partial["x"].abs() < 1e-9).all()
    inv = curves[(curves["task"] == "vpt") & (curves["sweep_kind"] == "invariance")]
    assert set(inv["measure"]) == {"accuracy"} and "invariance" not in set(fits.loc[fits["task"] == "vpt", "sweep_kind"])


def test_sweep_values_from_the_index_except_where_circular():
    labels = [1, 1, 0, 0]
    df = table(rows("m", "probe", labels, labels, split="sweep", sweep=["occluder_slide-000"] * 4, steps=[0, 1, 2, 3],
                    scenes=[f"a{i}" for i in range(4)]),
               rows("m", "probe", labels, labels, split="sweep", sweep=["viewer_turn-000"] * 4, steps=[0, 1, 2, 3],
                    scenes=[f"b{i}" for i in range(4)]),
               rows("m", "probe", [1], [1], split="sweep", sweep=["depth_pass-000"], steps=[0], scenes=["c0"]))
    index = pd.DataFrame({"scene_id": [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)] + ["c0"],
                          "sweep_value": [0.0, 0.1, 0.4, 0.5, 0.0, 90.0, 180.0, 270.0, 1.0],
                          "sweep_kind": ["occluder_slide"] * 4 + ["viewer_turn"] * 4 + ["depth_pass"],
                          "sweep_parameter": ["ball_offset_m"] * 4 + ["viewer_turn_deg"] * 4 + ["ball_depth_offset_m"]})
    fits, curves = sweep_fits(prepare(df), generator(0), index=index, n_boot=50)
    f = fits.set_index("sweep_kind")
    assert f.loc["occluder_slide", "variable"] == "ball_offset_m" and f.loc["viewer_turn", "variable"] == "step"
    xs = curves[curves["sweep_kind"] == "occluder_slide"]["x"]
    assert xs.abs().max() == pytest.approx(0.25)  # flip midway between 0.1 and 0.4
    one_step = curves[curves["sweep_kind"] == "depth_pass"]
    assert len(one_step) == 1 and one_step["measure"].iloc[0] == "accuracy" and "depth_pass" not in f.index


# ---------------------------------------------------------------- metadata and reference


def test_model_lists_and_reference_validate_on_load(tmp_path):
    models = load_model_lists()
    assert len(models) >= 10 and models["imagenet_top1"].dropna().between(0, 100).all()
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - {name: a, family: cnn, training_data: x, objective: y, imagenet_top1: 120}\n")
    with pytest.raises(MetadataError, match="imagenet_top1"):
        load_model_list(bad)
    bad.write_text("models:\n  - {name: a, family: cnn, objective: y, imagenet_top1: 70}\n")
    with pytest.raises(UserError, match="missing"):
        load_model_list(bad)
    ref = load_reference()
    assert "arXiv:2406.04138" in ref["citation"] and "another stimulus set" in ref["stimulus_set"]
    assert {h["task"]: h["mean"] for h in ref["humans"]}["vpt"] == 86.8
    broken = tmp_path / "ref.yaml"
    broken.write_text((load_reference.__defaults__[0]).read_text().replace("mean: 86.8", "mean: 186.8"))
    with pytest.raises(MetadataError, match="humans"):
        load_reference(broken)


def test_matching_grouping_and_rank_correlation_with_top1():
    models = pd.DataFrame({"name": ["a", "a.b", "c", "d"], "family": ["cnn", "vit", "cnn", "vit"],
                           "training_data": "x", "objective": "y", "imagenet_top1": [70.0, 80.0, 75.0, None]})
    meta = match_models(["a.b/linear", "a/linear", "c:probe", "zzz", "d"], models)
    assert dict(zip(meta["decision_maker"], meta["model"])) == {"a.b/linear": "a.b", "a/linear": "a", "c:probe": "c",
                                                                "d": "d"}
    acc = pd.DataFrame({"decision_maker": ["a/linear", "c:probe", "a.b/linear", "d"], "task": "vpt", "split": "test",
                        "accuracy": [0.5, 0.6, 0.7, 0.9]})
    corr = top1_correlation(acc, meta).iloc[0]
    assert corr["n_models"] == 3 and corr["spearman_rho"] == pytest.approx(1.0)  # top-1 order = accuracy order
    # with a kind column, probes and fine-tuned networks are ranked apart
    both = pd.concat([acc.assign(kind="probe"), acc.assign(kind="finetune", accuracy=[0.9, 0.8, 0.7, 0.6],
                                                           decision_maker=["a/ft", "c:ft", "a.b/ft", "d/ft"])])
    by_kind = top1_correlation(both, match_models(both["decision_maker"], models)).set_index("kind")
    assert by_kind.loc["probe", "spearman_rho"] == pytest.approx(1.0)
    assert by_kind.loc["finetune", "spearman_rho"] == pytest.approx(-1.0) and set(by_kind["n_models"]) == {3}
    # a random-init twin keeps its architecture's family but has no training data and no top-1
    twin = match_models(["a/random-init/linear", "a/random-init-s2-64px/linear", "a/pretrained/linear"],
                        models).set_index("decision_maker")
    assert twin.loc["a/random-init/linear", "family"] == "cnn" and twin["imagenet_top1"].isna().tolist() == [True, True, False]
    assert twin.loc["a/random-init/linear", "objective"] == "random init"
    assert match_models(["a/pretrained@layer1/linear"], models).empty  # a per-layer probe is not the backbone
