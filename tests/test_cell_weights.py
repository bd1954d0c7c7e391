"""Unequal cells: the away-open cells (ball on the side the viewer faces away from, no
occluder over the segment) can hold fewer items, and labels stay crossed in every cell."""

from collections import Counter

import pytest

from vpt.datasets.balance import CELLS, away_open, cell_sizes, quotas, spread, stratum_order


def test_equal_weights_keep_the_old_quotas_exactly():
    for n in (8, 30, 64, 256, 3072):
        assert cell_sizes(n, 1.0) == spread(n, 32)


@pytest.mark.parametrize("n", [64, 128, 256, 3072])
@pytest.mark.parametrize("w", [0.25, 0.5, 0.75])
def test_away_open_cells_shrink_and_every_cell_stays_crossed(n, w):
    q = quotas(n, 0.5, w)
    assert sum(q.values()) == n
    per_cell, combos = Counter(), {}
    for st, k in q.items():
        per_cell[(st.side, st.facing, st.overlap)] += k
        combos.setdefault((st.side, st.facing, st.overlap), Counter())[(st.vpt, st.depth)] += k
    away = [per_cell[c] for c in CELLS if away_open(c)]
    other = [per_cell[c] for c in CELLS if not away_open(c)]
    assert len(away) == 2 and len(other) == 6
    assert abs(sum(away) / len(away) - w * sum(other) / len(other)) <= 4  # the weight, to whole 2x2s
    for c, cnt in combos.items():  # VPT and depth balanced inside every cell
        assert max(cnt.values()) - min(cnt.values()) <= 1, (c, cnt)
    labels = Counter()
    for st, k in q.items():
        labels[(st.vpt, st.depth)] += k
    assert max(labels.values()) - min(labels.values()) <= 1


def test_away_open_cells_are_the_ball_behind_cells_without_overlap():
    names = {f"{s}/{f}/{o}" for s, f, o in CELLS if away_open((s, f, o))}
    assert names == {"left/right/False", "right/left/False"}
    assert len(stratum_order()) == 32


def test_recipe_key_is_validated(tmp_path):
    from vpt.datasets.recipe import parse_recipe
    from vpt.errors import UserError
    from tests.conftest import RECIPES

    import yaml

    data = yaml.safe_load((RECIPES / "depth-vpt.yaml").read_text())
    assert parse_recipe(data).config["balance"]["away_open_weight"] == 0.5
    data["balance"]["away_open_weight"] = 0.0
    with pytest.raises(UserError, match="away_open_weight"):
        parse_recipe(data)


@pytest.mark.parametrize("share", [0.5, 0.3])
def test_hidden_reasons_keep_the_occluded_share_with_unequal_cells(share):
    for n in (64, 256, 3072):
        q = quotas(n, share, 0.5)
        hidden = Counter()
        for st, k in q.items():
            if st.vpt == 0:
                hidden[st.reason] += k
                if not st.overlap:
                    assert st.reason == "out_of_view"  # no occluder on the segment: nothing can occlude
        assert hidden["occluded"] == round(share * n / 2)
