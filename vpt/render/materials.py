"""Procedural materials from ``assets/materials.yaml`` (see that file for the schema).

The catalogue loading and the reserved-colour check are pure Python; the node builders take
``bpy`` lazily. Colours in the YAML are sRGB hex and are converted to Blender's linear
scene colours here.
"""

from __future__ import annotations

import colorsys
import functools
import math
from typing import Any

import yaml

from vpt import resources

MATERIALS_PATH = resources.asset("materials")
TEXTURE_NODES = {
    "noise": "ShaderNodeTexNoise",
    "wave": "ShaderNodeTexWave",
    "brick": "ShaderNodeTexBrick",
    "checker": "ShaderNodeTexChecker",
    "voronoi": "ShaderNodeTexVoronoi",
}
DEFAULT_OUTPUT = {"noise": "Fac", "wave": "Fac", "brick": "Color", "checker": "Color", "voronoi": "Distance"}


# ---------------------------------------------------------------------------- pure Python
@functools.lru_cache(maxsize=4)
def load_materials(path: str | None = None) -> dict[str, dict[str, Any]]:
    """The material catalogue (name -> description)."""
    with open(path or MATERIALS_PATH, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path or MATERIALS_PATH}: expected a mapping of material names")
    return data


def hex_to_srgb(value: str) -> tuple[float, float, float]:
    """``'#rrggbb'`` -> sRGB floats in [0, 1]."""
    v = value.lstrip("#")
    if len(v) != 6:
        raise ValueError(f"colour {value!r} is not '#rrggbb'")
    return tuple(int(v[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def srgb_to_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def hex_to_linear(value: str) -> tuple[float, float, float]:
    """``'#rrggbb'`` -> Blender linear scene colour."""
    return tuple(srgb_to_linear(c) for c in hex_to_srgb(value))  # type: ignore[return-value]


def color_name(rgb: tuple[float, float, float]) -> str:
    """``'red'``, ``'green'`` or ``'other'`` for an sRGB colour, by hue and saturation.

    Red: hue within 20 deg of 0 (or 340-360), saturation >= 0.3, value >= 0.15.
    Green: hue 70-170 deg, saturation >= 0.2, value >= 0.15.
    """
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    hue = h * 360.0
    if v >= 0.15 and s >= 0.3 and (hue <= 20.0 or hue >= 340.0):
        return "red"
    if v >= 0.15 and s >= 0.2 and 70.0 <= hue <= 170.0:
        return "green"
    return "other"


def _hex_colors(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj] if obj.startswith("#") else []
    if isinstance(obj, dict):
        return [c for v in obj.values() for c in _hex_colors(v)]
    if isinstance(obj, list):
        return [c for v in obj for c in _hex_colors(v)]
    return []


def reserved_color_violations(materials: dict[str, dict[str, Any]]) -> list[str]:
    """Colours that break the reservation (red only in ``ball_*``, green only in ``viewer_*``)."""
    bad = []
    for name, desc in materials.items():
        for hx in _hex_colors(desc):
            kind = color_name(hex_to_srgb(hx))
            if kind == "red" and not name.startswith("ball_"):
                bad.append(f"{name}: {hx} looks red")
            if kind == "green" and not name.startswith("viewer_"):
                bad.append(f"{name}: {hx} looks green")
    return bad


# ---------------------------------------------------------------------------- Blender
def get_material(name: str) -> Any:
    """The Blender material ``name``, built from the catalogue on first use in this file."""
    import bpy

    mat = bpy.data.materials.get(name)
    if mat is not None:
        return mat
    catalogue = load_materials()
    if name not in catalogue:
        raise KeyError(f"material {name!r} is not in {MATERIALS_PATH}; known: {sorted(catalogue)}")
    desc = catalogue[name]
    if desc.get("world"):
        raise ValueError(f"material {name!r} is a world ({desc['world']}), not a surface")
    return build_material(name, desc)


def _rgba(hx: str) -> tuple[float, float, float, float]:
    return (*hex_to_linear(hx), 1.0)


def _set_input(node: Any, key: str, value: Any) -> None:
    sock = node.inputs[key]
    sock.default_value = _rgba(value) if isinstance(value, str) else value


def _coords(nt: Any, mode: str, scale: float) -> Any:
    """The vector socket feeding a texture: object coordinates, or planar (see module doc)."""
    tc = nt.nodes.new("ShaderNodeTexCoord")
    if mode == "object":
        vec = tc.outputs["Object"]
    elif mode == "planar":
        sep = nt.nodes.new("ShaderNodeSeparateXYZ")
        nt.links.new(tc.outputs["Object"], sep.inputs[0])
        xy_sum = nt.nodes.new("ShaderNodeMath")
        xy_sum.operation = "ADD"
        nt.links.new(sep.outputs["X"], xy_sum.inputs[0])
        nt.links.new(sep.outputs["Y"], xy_sum.inputs[1])
        wall = nt.nodes.new("ShaderNodeCombineXYZ")  # vertical faces: (x + y, z)
        nt.links.new(xy_sum.outputs[0], wall.inputs["X"])
        nt.links.new(sep.outputs["Z"], wall.inputs["Y"])
        flat = nt.nodes.new("ShaderNodeCombineXYZ")  # floors and tops: (x, y)
        nt.links.new(sep.outputs["X"], flat.inputs["X"])
        nt.links.new(sep.outputs["Y"], flat.inputs["Y"])
        nsep = nt.nodes.new("ShaderNodeSeparateXYZ")
        nt.links.new(tc.outputs["Normal"], nsep.inputs[0])
        absz = nt.nodes.new("ShaderNodeMath")
        absz.operation = "ABSOLUTE"
        nt.links.new(nsep.outputs["Z"], absz.inputs[0])
        up = nt.nodes.new("ShaderNodeMath")
        up.operation = "GREATER_THAN"
        up.inputs[1].default_value = 0.7
        nt.links.new(absz.outputs[0], up.inputs[0])
        mix = nt.nodes.new("ShaderNodeMix")
        mix.data_type = "VECTOR"
        nt.links.new(up.outputs[0], mix.inputs["Factor"])
        nt.links.new(wall.outputs[0], mix.inputs[4])  # A (vector)
        nt.links.new(flat.outputs[0], mix.inputs[5])  # B (vector)
        vec = mix.outputs[1]
    else:
        raise ValueError(f"unknown coords {mode!r}; use object or planar")
    if scale == 1.0:
        return vec
    sc = nt.nodes.new("ShaderNodeVectorMath")
    sc.operation = "SCALE"
    sc.inputs[3].default_value = scale
    nt.links.new(vec, sc.inputs[0])
    return sc.outputs[0]


def _texture(nt: Any, desc: dict[str, Any]) -> tuple[Any, Any]:
    """(texture node, its driving output socket) for a texture description."""
    kind = desc["texture"]
    if kind not in TEXTURE_NODES:
        raise ValueError(f"unknown texture {kind!r}; use one of {sorted(TEXTURE_NODES)}")
    node = nt.nodes.new(TEXTURE_NODES[kind])
    if kind in ("brick", "checker"):
        node.inputs["Scale"].default_value = 1.0  # sizes in the YAML are metres
    for key, value in (desc.get("props") or {}).items():
        setattr(node, key, value)
    for key, value in (desc.get("inputs") or {}).items():
        _set_input(node, key, value)
    nt.links.new(_coords(nt, desc.get("coords", "object"), float(desc.get("scale", 1.0))), node.inputs["Vector"])
    return node, node.outputs[desc.get("output", DEFAULT_OUTPUT[kind])]


def _ramp(nt: Any, stops: list, interpolation: str) -> Any:
    ramp = nt.nodes.new("ShaderNodeValToRGB")
    cr = ramp.color_ramp
    cr.interpolation = interpolation
    while len(cr.elements) < len(stops):
        cr.elements.new(0.5)
    for el, (pos, hx) in zip(cr.elements, sorted(stops, key=lambda s: s[0]), strict=True):
        el.position = float(pos)
        el.color = _rgba(hx)
    return ramp


def build_material(name: str, desc: dict[str, Any]) -> Any:
    """A Principled-BSDF material from one catalogue entry."""
    import bpy

    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    shader = desc.get("shader", "principled")
    if shader == "diffuse":  # matte and cheaper: Lambert, no specular lobe
        nt.nodes.remove(bsdf)
        bsdf = nt.nodes.new("ShaderNodeBsdfDiffuse")
        bsdf.inputs["Roughness"].default_value = 0.0
        nt.links.new(bsdf.outputs["BSDF"], nt.nodes["Material Output"].inputs["Surface"])
        base_input = "Color"
    elif shader == "principled":
        bsdf.inputs["Roughness"].default_value = float(desc.get("roughness", 0.7))
        bsdf.inputs["Specular IOR Level"].default_value = float(desc.get("specular", 0.5))
        base_input = "Base Color"
    else:
        raise ValueError(f"material {name!r}: unknown shader {shader!r}; use principled or diffuse")
    height = None
    if "texture" in desc:
        tex, out = _texture(nt, desc)
        if "ramp" in desc:
            ramp = _ramp(nt, desc["ramp"], desc.get("ramp_interpolation", "LINEAR"))
            nt.links.new(out, ramp.inputs["Fac"])
            color = ramp.outputs["Color"]
        else:
            color = out
        height = tex.outputs["Fac"] if out.name == "Color" and "Fac" in tex.outputs else out
        for ov in desc.get("overlays") or []:
            _, ov_out = _texture(nt, ov)
            dim = nt.nodes.new("ShaderNodeMath")  # 1 - strength * fac
            dim.operation = "MULTIPLY_ADD"
            dim.use_clamp = True
            nt.links.new(ov_out, dim.inputs[0])
            dim.inputs[1].default_value = -float(ov.get("strength", 0.1))
            dim.inputs[2].default_value = 1.0
            mul = nt.nodes.new("ShaderNodeVectorMath")
            mul.operation = "SCALE"
            nt.links.new(color, mul.inputs[0])
            nt.links.new(dim.outputs[0], mul.inputs[3])
            color = mul.outputs[0]
        nt.links.new(color, bsdf.inputs[base_input])
    else:
        bsdf.inputs[base_input].default_value = _rgba(desc.get("color", "#808080"))
    if desc.get("bump") and height is not None:
        bump = nt.nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = float(desc["bump"].get("strength", 0.1))
        bump.inputs["Distance"].default_value = float(desc["bump"].get("distance", 0.005))
        bump.invert = desc.get("texture") == "brick"  # mortar (fac 1) is the recessed part
        nt.links.new(height, bump.inputs["Height"])
        nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    if desc.get("emission_strength") and shader == "principled":
        bsdf.inputs["Emission Color"].default_value = _rgba(desc.get("color", "#808080"))
        bsdf.inputs["Emission Strength"].default_value = float(desc["emission_strength"])
    return mat


def build_world(style_world: str, background: tuple[float, float, float], sun_elevation_deg: float,
                sun_azimuth_deg: float, ambient: float = 0.3) -> Any:
    """The world: Blender's sky texture for a catalogue entry with ``world: sky``, else the
    flat colour ``background`` (linear RGB). Camera rays see the colour as given; as light
    on the scene it counts ``ambient`` times, so the spec's lights shape the shading."""
    import bpy

    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    nt = world.node_tree
    bg = nt.nodes["Background"]
    desc = load_materials().get(style_world) or {}
    if desc.get("world") == "sky":
        sky = nt.nodes.new("ShaderNodeTexSky")
        sky.sky_type = desc.get("sky_type", "HOSEK_WILKIE")
        el, az = math.radians(sun_elevation_deg), math.radians(sun_azimuth_deg)
        # the spec's azimuth is 0 at +X, counter-clockwise (like every yaw in vpt)
        sky.sun_direction = (math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el))
        for key in ("turbidity", "ground_albedo"):
            if key in desc:
                setattr(sky, key, float(desc[key]))
        nt.links.new(sky.outputs["Color"], bg.inputs["Color"])
        bg.inputs["Strength"].default_value = float(desc.get("strength", 1.0))
        world.cycles.sampling_method = "MANUAL"  # a small importance map: cheap to build
        world.cycles.sample_map_resolution = 256
        return world
    bg.inputs["Color"].default_value = (*background, 1.0)
    bg.inputs["Strength"].default_value = 1.0
    lit = nt.nodes.new("ShaderNodeBackground")
    lit.inputs["Color"].default_value = (*background, 1.0)
    lit.inputs["Strength"].default_value = ambient
    path = nt.nodes.new("ShaderNodeLightPath")
    mix = nt.nodes.new("ShaderNodeMixShader")
    nt.links.new(path.outputs["Is Camera Ray"], mix.inputs["Fac"])
    nt.links.new(lit.outputs["Background"], mix.inputs[1])
    nt.links.new(bg.outputs["Background"], mix.inputs[2])
    nt.links.new(mix.outputs["Shader"], nt.nodes["World Output"].inputs["Surface"])
    return world
