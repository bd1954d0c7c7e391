"""The model lists of evaluation/models: they load, every name is a released timm model, and
`vpt probe --model` reads a list file."""

from __future__ import annotations

import pytest

from vpt.deciders.vision.cli import model_names
from vpt.metrics.metadata import MODEL_LISTS, load_model_list, load_model_lists

timm = pytest.importorskip("timm", reason="vision models need the eval extra (pip install -e '.[eval]')")


def test_the_paper_list_is_paper_scale_and_every_name_is_a_released_timm_model():
    paper = load_model_list(MODEL_LISTS / "paper.yaml")
    assert 300 <= len(paper) <= 700
    released = set(timm.list_models(pretrained=True))
    assert set(paper["name"]) <= released
    assert {"cnn", "vit", "hybrid", "mlp"} <= set(paper["family"])
    assert paper["imagenet_top1"].notna().mean() > 0.9 and paper["imagenet_top1"].dropna().between(40, 100).all()
    without = paper[paper["imagenet_top1"].isna()]
    assert set(without["objective"]) <= {"self-distillation", "masked image modelling", "image-text contrastive"}
    assert len(load_model_lists()) == len(paper) + len(load_model_list(MODEL_LISTS / "default.yaml"))


def test_model_names_come_from_a_list_a_file_or_commas(tmp_path):
    assert model_names("resnet18, vit_tiny_patch16_224") == ["resnet18", "vit_tiny_patch16_224"]
    default = model_names(str(MODEL_LISTS / "default.yaml"))
    assert len(default) == 18 and default[0] == "resnet50.tv_in1k"
    (tmp_path / "mine.txt").write_text("# my models\nresnet18\n\nresnet34\n")
    assert model_names(str(tmp_path / "mine.txt")) == ["resnet18", "resnet34"]


def test_the_packaged_weights_are_in_the_default_list_with_the_same_top1():
    from vpt.deciders.vision.packaged import load_entries

    entries = load_entries()
    assert set(entries) == {"tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"}
    default = load_model_list(MODEL_LISTS / "default.yaml").set_index("name")
    for arch, e in entries.items():
        assert timm.is_model(arch) and e.wheel.endswith("-pytorch-model") and len(e.sha256) == 64
        assert default.loc[arch, "imagenet_top1"] == pytest.approx(e.imagenet_top1)
        assert default.loc[arch, "training_data"] == "ImageNet-1k"
