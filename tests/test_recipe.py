import pytest
import yaml

from vpt.datasets.recipe import RecipeError, find_recipes, load_recipe, parse_recipe
from tests.conftest import RECIPES, recipe_dict


def test_default_recipes_validate():
    recipes = find_recipes(RECIPES)
    assert {r.name for r in recipes} >= {"depth-vpt", "vpt-strategy"}
    kinds = {r.name: r.kind for r in recipes}
    assert kinds["depth-vpt"] == "binary" and kinds["vpt-strategy"] == "sweeps"


def test_defaults_fill_missing_fields():
    r = parse_recipe({"name": "mini"})
    assert r.config["labels"]["min_depth_gap"] == pytest.approx(0.10)
    assert r.config["splits"]["train"] > 0
    assert r.config["viewer"]["hfov_deg"] == [60.0, 60.0]  # a single number becomes a range


@pytest.mark.parametrize("patch, field, words", [
    ({"viewr": {}}, "viewr", "Did you mean 'viewer'"),
    ({"viewer": {"hfov": 60}}, "viewer.hfov", "Did you mean 'hfov_deg'"),
    ({"seed": "abc"}, "seed", "whole number"),
    ({"ball": {"radius": [0.3, 0.1]}}, "ball.radius", "low end is above the high end"),
    ({"viewer": {"hfov_deg": 400}}, "viewer.hfov_deg", "leaves the allowed range"),
    ({"occluders": {"shapes": ["wal"]}}, "occluders.shapes", "Did you mean 'wall'"),
    ({"resolution": [256]}, "resolution", "[width, height]"),
    ({"human_set": 500}, "human_set", "cannot be drawn from a test split"),
    ({"balance": {"occluded_share": 0.8}}, "balance.occluded_share", "outside the allowed range"),
    ({"ood": {"occluder_shapes": ["wall"], "styles": ["studio"]}}, "ood", "never seen in train"),
    ({"labels": {"fov_margin_deg": 29}, "viewer": {"hfov_deg": 50}}, "viewer.hfov_deg", "too narrow"),
])
def test_bad_fields_name_the_field_and_the_problem(patch, field, words):
    d = recipe_dict("depth-vpt")
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    with pytest.raises(RecipeError) as err:
        parse_recipe(d, "x.yaml")
    msg = str(err.value)
    assert msg.startswith("x.yaml: ") and field in msg and words in msg, msg


def test_missing_name_is_required():
    with pytest.raises(RecipeError, match="name: is required"):
        parse_recipe({"seed": 1})


def test_not_a_mapping_and_bad_yaml(tmp_path):
    with pytest.raises(RecipeError, match="must be a YAML mapping"):
        parse_recipe(["a", "b"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nscales: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML, line 3, column 1: ") as err:
        load_recipe(bad)
    assert "\n" not in str(err.value)  # one line, with where and what
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe(tmp_path / "missing.yaml")
    with pytest.raises(RecipeError, match=r"no \*.yaml recipes"):
        find_recipes(tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else tmp_path)


def test_scale_and_config_hash():
    r = load_recipe(RECIPES / "depth-vpt.yaml")
    base, paper = r.split_sizes(), r.split_sizes("paper")
    assert paper["train"] == base["train"] * 12 >= 3000
    with pytest.raises(RecipeError, match="no scale named 'huge'"):
        r.split_sizes("huge")
    d = recipe_dict("depth-vpt")
    d["seed"] += 1
    assert parse_recipe(d).config_hash != r.config_hash
    assert parse_recipe(yaml.safe_load(yaml.safe_dump(recipe_dict("depth-vpt")))).config_hash == r.config_hash


def test_unknown_scale_is_a_clear_error_for_sweeps_too():
    from vpt.datasets.build import plan_recipe

    r = load_recipe(RECIPES / "vpt-strategy.yaml")
    with pytest.raises(RecipeError, match="no scale named 'huge'; known: paper"):
        plan_recipe(r, "huge", progress=False)
