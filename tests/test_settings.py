"""The sampler's typed settings (vpt.scene.settings) mirror the recipe schema exactly."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields

import pytest

from tests.conftest import recipe_dict
from vpt.datasets.recipe import BINARY_SCHEMA, SWEEPS_SCHEMA, parse_recipe
from vpt.scene import settings as S

SECTIONS = {"observer": S.ObserverSettings, "viewer": S.ViewerSettings, "ball": S.BallSettings,
            "occluders": S.OccluderSettings, "labels": S.LabelSettings}


@pytest.mark.parametrize("schema", [BINARY_SCHEMA, SWEEPS_SCHEMA], ids=["binary", "sweeps"])
def test_every_settings_class_has_exactly_its_schema_fields(schema):
    for section, cls in SECTIONS.items():
        assert [f.name for f in fields(cls)] == list(schema[section]), f"{cls.__name__} vs recipe section {section}"
    top = {f.name for f in fields(S.SamplingSettings)} - set(SECTIONS)
    assert top <= set(schema) and all(not isinstance(schema[k], dict) for k in top)


@pytest.mark.parametrize("name", ["depth-vpt", "vpt-strategy"])
def test_recipe_settings_carry_the_validated_values(name):
    d = recipe_dict(name)
    d["viewer"]["hfov_deg"] = 55  # a single number becomes a range
    r = parse_recipe(d)
    s = r.sampling
    assert s.viewer.hfov_deg == (55.0, 55.0) and s.seed == r.config["seed"]
    assert s.ball.radius == tuple(r.config["ball"]["radius"]) and s.occluders.shapes == tuple(r.config["occluders"]["shapes"])
    assert s.labels.steer_rays == r.config["labels"]["steer_rays"] and r.labels == s.labels.config()
    assert s.resolution == tuple(r.config["resolution"])
    with pytest.raises(FrozenInstanceError):
        s.viewer.hfov_deg = (1.0, 2.0)  # type: ignore[misc]
    assert r.sampling is s  # built once per recipe


def test_the_sampler_sections_are_declared_once_on_the_fields():
    """The recipe's validation table takes these sections (and seed, resolution) from the
    settings fields, whose metadata carries each key's (type, default, constraint): one
    declaration, so the two cannot drift apart."""
    for schema in (BINARY_SCHEMA, SWEEPS_SCHEMA):
        for section, cls in SECTIONS.items():
            assert schema[section] == S.schema_section(cls)
            assert all(schema[section][f.name] is f.metadata[S.SCHEMA] for f in fields(cls))
        for name in ("seed", "resolution"):
            assert schema[name] is S.schema_leaf(S.SamplingSettings, name)
    leaf = S.schema_leaf(S.ViewerSettings, "hfov_deg")
    assert leaf == ("range", 60.0, (10.0, 150.0))
    assert parse_recipe({"name": "x"}).config["viewer"]["hfov_deg"] == [60.0, 60.0]  # the default, normalised
