"""Vision backbones: the real weight-loading paths round trip, missing weights, bad names, no crop."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="vision models need the eval extra (pip install -e '.[eval]')")
timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")

from vpt.deciders.vision.backbones import Preprocessing, load_backbone  # noqa: E402
from vpt.errors import UserError  # noqa: E402


def _same_weights(a, b) -> bool:
    """Bit-identical parameters and buffers (what a loading path must give; a head the backbone drops aside)."""
    sa, sb = a.state_dict(), b.state_dict()
    return bool(sa) and set(sa) <= set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def _close(a, b) -> None:
    # the same weights on the same input; CPU kernels may still round differently between memory layouts and
    # thread counts (a clean-clone CI run saw one ulp), so the features are compared to float32 precision
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def _pooled(model, x):
    with torch.no_grad():
        return model.eval().forward_head(model.forward_features(x), pre_logits=True)


def test_timm_state_dict_file_round_trips_through_checkpoint(tmp_path):
    torch.manual_seed(0)
    saved = timm.create_model("resnet18", pretrained=False, num_classes=7)  # a fine-tuned head loads too
    torch.save(saved.state_dict(), tmp_path / "r18.pth")
    b = load_backbone("resnet18", checkpoint=tmp_path / "r18.pth", device="cpu")
    x = torch.randn(2, 3, 64, 64)
    assert b.weights.startswith("ckpt-") and b.tag == f"resnet18/{b.weights}"
    assert _same_weights(b.module, saved) and b.features(x).shape == (2, 512)
    _close(b.features(x), _pooled(saved, x))
    other = timm.create_model("resnet18", pretrained=False)  # other random weights: other features
    assert not _same_weights(b.module, other)
    assert not torch.allclose(b.features(x), _pooled(other, x))


def test_a_named_layer_is_read_and_pooled(tmp_path):
    b = load_backbone("resnet18", random_init=True, layer="layer3", device="cpu")
    assert b.tag == "resnet18/random-init@layer3" and b.features(torch.randn(2, 3, 64, 64)).shape == (2, 256)


def test_another_input_size_is_another_decision_maker():
    own = load_backbone("resnet10t", random_init=True, device="cpu")
    same = load_backbone("resnet10t", random_init=True, device="cpu", input_size=own.preprocessing.size[0])
    small = load_backbone("resnet10t", random_init=True, device="cpu", input_size=64)
    assert own.tag == same.tag == "resnet10t/random-init"  # the model's own size: no suffix
    assert small.tag == "resnet10t/random-init-64px" and small.preprocessing.size == (64, 64)
    assert small.identity() != own.identity()  # and another feature cache key


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    torch.save(timm.create_model("resnet10t", pretrained=False).state_dict(), tmp_path / "other.pth")
    with pytest.raises(UserError, match="not a state dict of resnet18"):
        load_backbone("resnet18", checkpoint=tmp_path / "other.pth", device="cpu")


@pytest.mark.parametrize("kind", ["dinov2", "clip"])
def test_transformers_folder_round_trips_through_hf_dir(tmp_path, kind):
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                 patch_size=8)
    torch.manual_seed(0)
    if kind == "dinov2":
        saved = transformers.Dinov2Model(transformers.Dinov2Config(**small))
    else:  # a dual encoder: the image tower is used
        saved = transformers.CLIPModel(transformers.CLIPConfig(vision_config=small, text_config={
            "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}))
    saved.save_pretrained(tmp_path / kind)
    b = load_backbone(f"tiny-{kind}", hf_dir=tmp_path / kind, device="cpu")
    assert b.source == "transformers" and b.weights.startswith("hfdir-") and b.preprocessing.size == (32, 32)
    x = torch.randn(2, 3, 32, 32)
    tower = saved.vision_model if kind == "clip" else saved
    with torch.no_grad():
        expect = tower.eval()(pixel_values=x).pooler_output
    assert _same_weights(b.module, tower)
    _close(b.features(x), expect)
    layer = load_backbone(f"tiny-{kind}", hf_dir=tmp_path / kind, layer="encoder.layer.0" if kind == "dinov2"
                          else "encoder.layers.0", device="cpu")
    assert layer.features(x).shape == (2, 32)


def _one_line(err: UserError) -> str:
    text = str(err)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("model", ["resnet18.a1_in1k", "facebook/dinov2-small"])
def test_missing_weights_name_the_model_and_both_ways_to_give_them(model):
    with pytest.raises(UserError) as info:
        load_backbone(model, device="cpu")
    text = _one_line(info.value)
    assert model in text and "--checkpoint FILE" in text and "--hf-dir DIR" in text and "--random-init" in text


def test_unknown_model_and_layer_suggest_close_names(tmp_path):
    with pytest.raises(UserError) as info:
        load_backbone("resnet181", random_init=True, device="cpu")
    assert "unknown model 'resnet181'" in _one_line(info.value) and "resnet18" in str(info.value)
    with pytest.raises(UserError) as info:
        load_backbone("resnet18", random_init=True, layer="layer9", device="cpu")
    assert "no layer 'layer9'" in _one_line(info.value) and "layer4" in str(info.value)
    with pytest.raises(UserError, match="no config.json"):
        load_backbone("x", hf_dir=tmp_path, device="cpu")
    with pytest.raises(UserError, match="give its save_pretrained folder with --hf-dir"):
        load_backbone("facebook/dinov2-small", checkpoint=tmp_path / "x.pth", device="cpu")


def test_preprocessing_resizes_the_whole_image_without_a_centre_crop():
    """timm's own eval transform crops (crop_pct 0.95 for resnet18): ours keeps every pixel."""
    from PIL import Image

    b = load_backbone("resnet18", random_init=True, device="cpu")
    cfg = timm.data.resolve_model_data_config(b.module)
    assert cfg["crop_pct"] < 1  # the model's config would crop; ours must not
    p = b.preprocessing
    assert p.crop == "none" and p.size == tuple(cfg["input_size"][1:]) and p.mean == tuple(cfg["mean"])
    img = np.zeros((64, 64, 3), np.uint8)
    img[0, 0] = img[0, -1] = img[-1, 0] = img[-1, -1] = 255  # a white pixel in each corner
    out = p.transform()(Image.fromarray(img))
    assert out.shape == (3, 224, 224)
    rgb = out * torch.tensor(p.std)[:, None, None] + torch.tensor(p.mean)[:, None, None]
    for corner in (rgb[:, :2, :2], rgb[:, :2, -2:], rgb[:, -2:, :2], rgb[:, -2:, -2:]):
        assert corner.mean() > 0.6  # each corner pixel survives at the border
    cropped = timm.data.create_transform(**cfg)(Image.fromarray(img))
    assert (cropped * torch.tensor(p.std)[:, None, None] + torch.tensor(p.mean)[:, None, None])[:, :2, :2].mean() < 0.1
    assert Preprocessing((8, 8), "bilinear", (0.5,) * 3, (0.5,) * 3).to_dict()["crop"] == "none"


def test_batch_loading_gives_the_transform_values_in_channels_last(tmp_path):
    """Preprocessing.load (the fast path of extraction) equals transform() image by image."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i, size in enumerate([(64, 64), (80, 48), (31, 57)]):
        p = tmp_path / f"i{i}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    for interp in ("bicubic", "bilinear", "nearest"):
        prep = Preprocessing((40, 36), interp, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        batch = prep.load(paths)
        assert batch.shape == (3, 3, 40, 36) and batch.is_contiguous(memory_format=torch.channels_last)
        want = torch.stack([prep.transform()(Image.open(p).convert("RGB")) for p in paths])
        torch.testing.assert_close(batch, want, rtol=0, atol=1e-6)


def test_random_init_is_drawn_from_its_seed():
    x = torch.randn(2, 3, 64, 64)
    a, b = (load_backbone("resnet18", random_init=True, device="cpu") for _ in range(2))
    c = load_backbone("resnet18", random_init=True, init_seed=1, device="cpu")
    assert _same_weights(a.module, b.module)
    _close(a.features(x), b.features(x))
    assert not torch.allclose(a.features(x), c.features(x))
    assert (a.weights, c.weights) == ("random-init", "random-init-s1")
