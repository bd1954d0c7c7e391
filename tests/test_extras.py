"""An evaluator command run where its optional extra is missing (``make scenes`` installs only
the ``render`` extra) says in one line which extra to install, before doing any work."""

from __future__ import annotations

import sys
import tomllib

import pytest

from tests.conftest import ROOT
from vpt.cli import main
from vpt.extras import EXTRA_OF, MissingExtra, extra_of, missing_extra, require


def _missing(monkeypatch, *modules: str) -> None:
    for m in modules:  # `import m` now raises ModuleNotFoundError, as where it is not installed
        monkeypatch.setitem(sys.modules, m, None)


def _one_line_naming(err: str, extra: str) -> None:
    assert f"pip install 'vpt[{extra}]'" in err and f"pip install -e '.[{extra}]'" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("argv, module, extra", [
    (["probe", "DATASET", "--model", "resnet18"], "torch", "eval"),
    (["finetune", "DATASET", "--model", "resnet18"], "timm", "eval"),
    (["train", "DATASET", "--model", "resnet18"], "torch", "eval"),
    (["saliency", "DATASET", "--model", "resnet18"], "captum", "eval"),
    (["human", "serve", "--dataset", "DATASET", "--task", "vpt"], "fastapi", "human"),
])
def test_an_evaluator_without_its_extra_names_it(argv, module, extra, tmp_path, monkeypatch, capsys):
    _missing(monkeypatch, module)
    argv = [str(tmp_path / "nowhere") if a == "DATASET" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    _one_line_naming(err, extra)
    command = "vpt " + " ".join(argv[:2] if argv[0] == "human" else argv[:1])
    assert f"{command} needs {module}, which is not installed" in err, err  # before it looks at the dataset


def test_a_vlm_provider_without_its_sdk_names_the_vlm_extra(monkeypatch):
    from vpt.deciders.vlm.providers import provider_class

    for name, module in (("openai", "openai"), ("anthropic", "anthropic"), ("google", "google.genai")):
        _missing(monkeypatch, module)
        monkeypatch.delitem(sys.modules, f"vpt.deciders.vlm.providers.{name}", raising=False)  # import it afresh
        with pytest.raises(MissingExtra) as info:
            provider_class(name)
        assert info.value.extra == "vlm" and info.value.module.startswith(module.split(".")[0]), str(info.value)
        _one_line_naming(str(info.value), "vlm")


def test_vlm_run_without_the_sdk_says_so_before_reading_the_dataset(tmp_path, monkeypatch, capsys):
    _missing(monkeypatch, "openai")
    monkeypatch.delitem(sys.modules, "vpt.deciders.vlm.providers.openai", raising=False)
    assert main(["vlm", "run", str(tmp_path / "nowhere"), "--provider", "openai", "--model", "m"]) == 2
    err = capsys.readouterr().err
    _one_line_naming(err, "vlm")
    assert "vpt vlm --provider openai needs openai" in err


def test_a_missing_module_deeper_down_gets_the_same_message(monkeypatch, capsys):
    """The entry point's fallback: a command that imports an extra's module past its checks."""
    import vpt.deciders.vision.cli as vision_cli

    def deep(args):
        import transformers  # noqa: F401

    monkeypatch.setattr(vision_cli, "cmd_probe", deep)
    _missing(monkeypatch, "transformers")
    assert main(["probe", "somewhere", "--model", "resnet18"]) == 2
    err = capsys.readouterr().err
    _one_line_naming(err, "eval")
    assert "vpt probe needs transformers" in err

    def unrelated(args):
        import no_such_module_of_any_extra  # noqa: F401

    monkeypatch.setattr(vision_cli, "cmd_probe", unrelated)
    with pytest.raises(ModuleNotFoundError):  # not an extra's module: a bug, left as a traceback
        main(["probe", "somewhere", "--model", "resnet18"])


def test_the_extras_named_are_the_projects():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRA_OF.values()) <= set(declared)
    assert extra_of("torch.nn") == "eval" and extra_of("google.genai.types") == "vlm" and extra_of("torchx") is None
    err = ModuleNotFoundError("No module named 'ray'", name="ray")
    assert missing_extra(err, "vpt scenes").extra == "cluster"
    with pytest.raises(ValueError, match="EXTRA_OF"):
        require("vpt x", "numpy")  # a base dependency is no extra's module


def test_require_passes_where_the_extra_is_installed():
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    require("vpt probe", "torch", "timm")
