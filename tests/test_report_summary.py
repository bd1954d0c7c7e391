"""The report's summary per task and split: VPT first, every split, the label check, the
shortcut floor named (best on val, label rule excluded), the best of each kind."""

from __future__ import annotations

import pandas as pd

from vpt.report.summary import display, shortcut_floor_table, task_summary


def _acc() -> pd.DataFrame:
    rows = []
    spec = {  # decision maker: kind, {split: accuracy}
        "baseline:label-rule": ("baseline", {"val": 1.0, "test": 1.0, "train": 1.0}),
        "baseline:hgb:all-cues": ("baseline", {"val": 0.70, "test": 0.66, "train": 0.9}),
        "baseline:logreg:dx": ("baseline", {"val": 0.60, "test": 0.72, "train": 0.6}),  # best on test, not on val
        "m1/pretrained/linear": ("probe", {"val": 0.55, "test": 0.53}),
        "m2/pretrained/linear": ("probe", {"val": 0.58, "test": 0.51}),
        "m1/pretrained/finetune-all": ("finetune", {"val": 0.62, "test": 0.61}),
    }
    for task in ("depth", "vpt"):
        for dm, (kind, accs) in spec.items():
            for split, a in accs.items():
                rows.append({"decision_maker": dm, "kind": kind, "task": task, "split": split, "accuracy": a,
                             "accuracy_lo": a - 0.08, "accuracy_hi": a + 0.08, "n_labelled": 128,
                             "majority_rate": 0.5, "perm_floor": 0.57})
    return pd.DataFrame(rows)


def test_every_task_and_split_vpt_first_with_floor_and_best_of_each_kind():
    s = task_summary(_acc())
    assert list(zip(s["task"], s["split"])) == [("vpt", "val"), ("vpt", "test"), ("depth", "val"), ("depth", "test")]
    test = s[(s["task"] == "vpt") & (s["split"] == "test")].iloc[0]
    assert test["label_rule"] == 1.0 and test["chance"] == 0.5 and test["perm_floor"] == 0.57
    assert test["shortcut_floor_by"] == "baseline:hgb:all-cues" and test["shortcut_floor"] == 0.66  # chosen on val
    # the best probe is chosen on val (m2), not on the split shown (m1 is better on test)
    assert test["best_probe"] == "m2/pretrained/linear" and test["best_probe_accuracy"] == 0.51
    assert test["best_finetune_accuracy"] == 0.61 and "best_baseline" not in s.columns
    shown = display(s)
    row = shown[(shown["task"] == "vpt") & (shown["split"] == "test")].iloc[0]
    assert row["labels verified"] == "yes" and row["shortcut floor"] == "66.0 % (baseline:hgb:all-cues)"
    assert row["best probe"] == "51.0 % [43.0 %, 59.0 %] m2/pretrained/linear"


def test_a_label_rule_below_100_is_reported_and_a_missing_one_is_not_checked():
    acc = _acc()
    acc.loc[(acc["decision_maker"] == "baseline:label-rule") & (acc["split"] == "val"), "accuracy"] = 0.99
    shown = display(task_summary(acc))
    assert shown.loc[0, "labels verified"] == "no: label rule 99.0 %"
    shown = display(task_summary(acc[acc["decision_maker"] != "baseline:label-rule"]))
    assert set(shown["labels verified"]) == {"not checked"}
    floor = shortcut_floor_table(acc[acc["split"] != "val"])  # no val: the best baseline per split
    assert floor.set_index(["task", "split"]).loc[("vpt", "test"), "decision_maker"] == "baseline:logreg:dx"


def _points(fig) -> list[tuple[float, float]]:
    pts = []
    for ax in fig.axes:
        for c in ax.containers:
            pts += [tuple(xy) for xy in c.lines[0].get_xydata()]
    return pts


def test_figures_leave_out_the_label_rule_and_train():
    from vpt.report import figures as F

    acc = _acc()
    ft = acc["decision_maker"] == "m1/pretrained/finetune-all"
    acc.loc[ft, ["accuracy", "accuracy_lo", "accuracy_hi"]] = [0.9, 0.85, 0.95]
    diss = F.dissociation_figure(acc, None)
    pts = _points(diss)
    assert pts and (1.0, 1.0) not in pts and (0.9, 0.9) in pts  # the fine-tuned network, not the label rule
    figs = F.accuracy_figures(acc, {})
    assert list(figs) == sorted(acc["task"].unique(), key=lambda t: (t != "vpt", t))  # one per task, VPT first
    for fig in figs.values():
        titles = [ax.get_title() for ax in fig.axes]
        assert titles and not any("train" in t for t in titles)
        assert max(y for _, y in _points(fig)) <= 0.9  # nothing at 100 %: the label rule is not drawn
        assert not any(F.is_label_rule(d) for d in fig.vpt_drawn)
    assert max(y for _, y in _points(figs["vpt"])) == 0.9


def test_each_cue_family_has_its_floor_chosen_on_val_among_its_own_baselines():
    from vpt.report.figures import accuracy_figures
    from vpt.report.summary import family_floor_table, family_of, floor_notes

    assert family_of("baseline:logreg:dy") == "depth" and family_of("baseline:hgb:cover_lens_1") == "image-plane"
    assert family_of("baseline:hgb:nuisance-cues") == "nuisance"
    assert family_of("baseline:hgb:all-cues") is None and family_of("m1/pretrained/linear") is None
    acc = _acc()
    extra = {"baseline:logreg:facing_ball_angle": {"val": 0.58, "test": 0.75},  # best image-plane cue on test only
             "baseline:hgb:cover_lens_1": {"val": 0.61, "test": 0.52},
             "baseline:hgb:ball_x": {"val": 0.50, "test": 0.55},  # nuisance, below dx on val
             "baseline:logreg:dy": {"val": 0.55, "test": 0.45}}
    rows = [{"decision_maker": dm, "kind": "baseline", "task": "vpt", "split": sp, "accuracy": a,
             "accuracy_lo": a - 0.08, "accuracy_hi": a + 0.08, "n_labelled": 128, "majority_rate": 0.5,
             "perm_floor": 0.57} for dm, accs in extra.items() for sp, a in accs.items()]
    acc = pd.concat([acc, pd.DataFrame(rows)], ignore_index=True)
    t = family_floor_table(acc).set_index(["task", "split", "family"])
    assert t.loc[("vpt", "test", "image-plane"), "decision_maker"] == "baseline:hgb:cover_lens_1"
    assert t.loc[("vpt", "test", "image-plane"), "accuracy"] == 0.52
    assert t.loc[("vpt", "test", "nuisance"), "decision_maker"] == "baseline:logreg:dx"
    assert t.loc[("vpt", "test", "depth"), "accuracy"] == 0.45
    assert ("depth", "test", "image-plane") not in t.index  # no image-plane baseline ran on depth
    assert ("depth", "test", "nuisance") in t.index
    s = task_summary(acc)
    row = display(s).set_index(["task", "split"]).loc[("vpt", "test")]
    assert row["image-plane floor"] == "52.0 % (baseline:hgb:cover_lens_1)"
    assert row["depth-cue floor"] == "45.0 % (baseline:logreg:dy)"
    notes = floor_notes(s, "vpt")
    assert any("image-plane line of sight 52.0 %" in n for n in notes)
    fig = accuracy_figures(acc, {})["vpt"]
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "image-plane 52.0 %" in texts and "nuisance 72.0 %" in texts and "depth cues 45.0 %" in texts
    assert "floor, all cues 66.0 %" in texts


def test_a_second_dataset_with_the_same_splits_gets_sets_of_its_own():
    from vpt.report.load import separate_sets

    rows = [{"dataset": ds, "split": sp, "scene_id": f"{ds}-{sp}-{i}"} for ds, n in (("depth-vpt", 6), ("conflict", 3))
            for sp in ("val", "test") for i in range(n)]
    rows += [{"dataset": "vpt-strategy", "split": "sweep", "scene_id": f"s{i}"} for i in range(2)]
    rows += [{"dataset": "other-sweeps", "split": "sweep", "scene_id": f"o{i}"} for i in range(2)]
    out = separate_sets(pd.DataFrame(rows))
    got = out.groupby(["dataset", "split"]).size().to_dict()
    assert got == {("depth-vpt", "val"): 6, ("depth-vpt", "test"): 6, ("conflict", "val · conflict"): 3,
                   ("conflict", "test · conflict"): 3, ("vpt-strategy", "sweep"): 2, ("other-sweeps", "sweep"): 2}
    one = pd.DataFrame(rows[:12])  # one dataset: nothing renamed
    assert separate_sets(one) is one
