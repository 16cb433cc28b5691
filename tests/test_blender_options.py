"""The Blender half of the options schema in real Blender (the ``bpy`` module): the operator's,
the panel's and the object's properties are made from Options' declarations (label, default,
limits, unit), and an angle is radians in Blender, degrees everywhere else."""
from __future__ import annotations

import math
from dataclasses import dataclass

import bpy  # noqa: E402  (the suite installs it; a broken bpy must fail here, not skip)
import numpy as np
import pytest
from blender_addon import registered  # noqa: E402,F401  (autouse: registered for the module)
from conftest import box_depth, random_photo  # noqa: E402

from depth3d.blender import cache  # noqa: E402
from depth3d.blender.option_props import (  # noqa: E402
    blender_properties,
    blender_value,
    option_value,
    option_values,
    set_option_values,
)
from depth3d.geometry.reconstruct import Options  # noqa: E402
from depth3d.ranges import Range  # noqa: E402
from depth3d.schema import OptionField, fields_of, option  # noqa: E402

KINDS = {bool: "BOOLEAN", int: "INT", float: "FLOAT", str: "ENUM"}
HOLDERS = {  # where each option is a property: all of them, but what each leaves out
    "operator": (lambda: bpy.ops.depth3d.generate_mesh.get_rna_type(), ()),
    "panel": (lambda: bpy.types.Scene.bl_rna.properties["depth3d"].fixed_type, ("max_triangles",)),
    "object": (lambda: bpy.types.Object.bl_rna.properties["depth3d"].fixed_type, ("near", "far")),
}


def _assert_limits(f: OptionField, prop, auto: bool) -> None:
    """The property's hard limits are the declared range's, in the property's unit: a closed
    end exactly, an open one within the declared margin inside it (Blender's are inclusive)."""
    r = f.spec.range
    for end, is_open, hard, sign in ((r.min, r.min_open, prop.hard_min, 1), (r.max, r.max_open, prop.hard_max, -1)):
        value = option_value(f, hard)
        if auto and sign == 1 and f.spec.auto is not None:  # the operator's "decide from the data"
            assert value == f.spec.auto
        elif end is None:
            assert abs(value) > 1e9  # Blender's own limit: none
        elif is_open:
            assert value == pytest.approx(end + sign * f.spec.margin, rel=1e-5), f.name
        else:
            assert value == pytest.approx(end, rel=1e-6), f.name


@pytest.mark.parametrize("holder", HOLDERS)
def test_every_option_is_a_property_made_from_its_declaration(holder):
    rna_type, left_out = HOLDERS[holder]
    props = rna_type().properties
    for f in fields_of(Options):
        if f.name in left_out:
            assert f.name not in props
            continue
        prop = props[f.name]
        assert prop.type == KINDS[f.kind], f.name
        assert prop.name == f.spec.label and prop.description.lower().startswith(f.spec.help.lower()), f.name
        auto = holder == "operator" and f.spec.auto is not None
        default = f.spec.auto if auto else f.spec.placeholder if f.default is None else f.default
        if f.spec.choices:
            assert [i.identifier for i in prop.enum_items] == [c.value for c in f.spec.choices]
            assert prop.default == default
        elif f.kind is bool:
            assert prop.default is default
        else:
            assert option_value(f, prop.default) == pytest.approx(default), f.name
            assert prop.subtype == {"degrees": "ANGLE", "m": "DISTANCE"}.get(f.unit, "NONE"), f.name
            _assert_limits(f, prop, auto)


def test_an_angle_is_radians_in_blender_and_degrees_in_the_options(tmp_path):
    """The operator's FOV, the object's and the panel's are ANGLE properties (radians); the
    options, the camera's fov_deg and the command line say degrees."""
    photo, depth = random_photo(tmp_path / "p.png"), box_depth(tmp_path / "p.npy")
    assert bpy.ops.depth3d.generate_mesh(filepath=str(photo), depth_filepath=str(depth), fov=math.radians(50.0),
                                         resolution=16, add_camera=True) == {"FINISHED"}
    obj = next(o for o in bpy.data.objects if o.type == "MESH")
    camera = next(o for o in bpy.data.objects if o.type == "CAMERA")
    assert obj.depth3d.fov == pytest.approx(math.radians(50.0), rel=1e-6)
    assert cache.options_of(obj).fov == pytest.approx(50.0, rel=1e-6)
    assert camera.data.angle_x == pytest.approx(math.radians(50.0), rel=1e-5)

    obj.depth3d.fov = math.radians(70.0)  # live: the camera follows, the options say degrees
    assert cache.options_of(obj).fov == pytest.approx(70.0, rel=1e-6)
    assert camera.data.angle_x == pytest.approx(math.radians(70.0), rel=1e-5)


def test_the_operators_bad_combination_names_its_properties(tmp_path):
    photo, depth = random_photo(tmp_path / "p.png"), box_depth(tmp_path / "p.npy")
    with pytest.raises(RuntimeError, match="near and far go together"):
        bpy.ops.depth3d.generate_mesh(filepath=str(photo), depth_filepath=str(depth), near=1.0)


def test_an_option_added_to_the_schema_is_a_blender_property_with_its_conversion():
    """A field added to Options (here to a subclass) becomes a property with its label, default
    and limits, an angle in radians, read back in degrees — with no other edit."""

    @dataclass
    class Extended(Options):
        smoothing: float = option(0.25, "Smoothing", "how much to smooth the depth", range=Range(min=0.0, max=1.0))
        tilt: float = option(10.0, "Tilt", "camera tilt", range=Range(min=-90.0, max=90.0, unit="degrees"))

    class ExtendedSettings(bpy.types.PropertyGroup):
        __annotations__ = blender_properties(Extended, ("smoothing", "tilt"))

    bpy.utils.register_class(ExtendedSettings)
    bpy.types.WindowManager.depth3d_extended = bpy.props.PointerProperty(type=ExtendedSettings)
    try:
        props = ExtendedSettings.bl_rna.properties
        smoothing = props["smoothing"]
        assert (smoothing.name, smoothing.hard_min, smoothing.hard_max) == ("Smoothing", 0, 1)
        assert props["tilt"].subtype == "ANGLE"
        assert props["tilt"].hard_max == pytest.approx(math.radians(90.0))
        held = bpy.context.window_manager.depth3d_extended
        assert held.tilt == pytest.approx(math.radians(10.0)) and held.smoothing == pytest.approx(0.25)
        set_option_values(held, Extended, {"tilt": 30.0, "smoothing": 0.5})
        assert held.tilt == pytest.approx(math.radians(30.0))
        values = option_values(held, Extended, ("smoothing", "tilt"))
        assert values == pytest.approx({"smoothing": 0.5, "tilt": 30.0})
        assert Extended(**values).tilt == pytest.approx(30.0)
    finally:
        del bpy.types.WindowManager.depth3d_extended
        bpy.utils.unregister_class(ExtendedSettings)


def test_conversion_round_trips_only_angles():
    fov, near = (next(f for f in fields_of(Options) if f.name == n) for n in ("fov", "near"))
    assert blender_value(fov, 90.0) == pytest.approx(math.pi / 2) and option_value(fov, math.pi) == pytest.approx(180)
    assert blender_value(near, 2.5) == 2.5 and option_value(near, 2.5) == 2.5
    assert blender_value(fov, None) is None
    assert np.isclose(option_value(fov, blender_value(fov, 55.0)), 55.0)


def test_the_precision_preference_is_the_dtype_option_and_reaches_the_model(tmp_path):
    """The preferences' Precision is ModelOptions' ``dtype`` declaration (the CLI's --dtype) and
    the value chosen there is what the in-process model runs in, from the preferences as from the
    batch's --dtype (a core spec); the local service is started with it."""
    import sys
    from types import SimpleNamespace

    import torch
    from tiny_models import save_tiny_depth_anything

    from depth3d.backends import resolve_backend
    from depth3d.backends.spec import ModelOptions
    from depth3d.blender import depth_source
    from depth3d.blender.prefs import Depth3DPreferences
    from depth3d.io.image import Photo
    from depth3d.schema import field_of

    f = field_of(ModelOptions, "dtype")
    prop = Depth3DPreferences.bl_rna.properties["dtype"]
    assert (prop.type, prop.name, prop.default) == ("ENUM", f.spec.label, "auto")
    assert [i.identifier for i in prop.enum_items] == [c.value for c in f.spec.choices]
    assert prop.description.lower().startswith(f.spec.help.lower())

    model = str(save_tiny_depth_anything(tmp_path / "model"))
    prefs = SimpleNamespace(backend="TRANSFORMERS", model=model, device="cpu", dtype="bfloat16", cache_dir="")
    try:
        backend = depth_source.backend_for(depth_source.BackendSettings.from_prefs(prefs))
        assert backend.dtype == "bfloat16"
        depth = backend.estimate(Photo(rgb=np.full((24, 32, 3), 90, np.uint8), name="grey")).depth
        assert depth.dtype == np.float32 and {p.dtype for p in backend._net.parameters()} == {torch.bfloat16}
        spec = resolve_backend(model=model, device="cpu", dtype="float32")  # the batch's --dtype float32
        assert depth_source.backend_from_spec(spec, prefs).dtype == "float32"
        service = depth_source.backend_for(SimpleNamespace(
            backend="SERVICE", backend_python=sys.executable, model=model, device="cpu", dtype="bfloat16"))
        assert service.dtype == "bfloat16"
        local = depth_source.local_service(service.python, model, "cpu", "bfloat16")
        assert local.dtype == "bfloat16"  # started as `depth3d serve … --dtype bfloat16`
    finally:
        depth_source.shutdown()
