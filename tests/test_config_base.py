"""The one config helper: range and choice checks, and every modality's options are a Config."""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Optional

import numpy as np
import pytest

from codebind_core import modalities
from codebind_core.config_base import Config, check_choice, check_range
from codebind_core.modalities.depth import DepthConfig
from codebind_core.modalities.thermal import ThermalConfig


@dataclasses.dataclass(frozen=True)
class Knobs(Config):
    error_prefix: ClassVar[str] = "knobs: "
    count: int = 4              # an integer in [1, 8]
    gain: Optional[float] = None  # (0, 2] when given
    mode: str = "fast"          # fast | exact

    def validate(self) -> None:
        super().validate()
        self.check_range("count", 1, 8, integer=True)
        self.check_range("gain", 0.0, 2.0, open_lo=True)
        self.check_choice("mode", ("fast", "exact"))


INTEGER_1_8 = dict(lo=1, hi=8, name="count", integer=True)
OPEN_0_2 = dict(lo=0.0, hi=2.0, name="gain", open_lo=True)


@pytest.mark.parametrize("bounds, value, error", [
    (INTEGER_1_8, 1, None), (INTEGER_1_8, 8, None), (INTEGER_1_8, np.int64(3), None),
    *((INTEGER_1_8, v, r"count must be an integer in \[1, 8\], got") for v in (0, 9, 3.0, True, "3")),
    (OPEN_0_2, 1e-9, None), (OPEN_0_2, 2.0, None), (OPEN_0_2, np.float32(1.5), None),
    *((OPEN_0_2, v, r"gain must be a number in \(0, 2\]") for v in (0.0, 2.0000001, float("nan"), float("inf"))),
])
def test_check_range_bounds(bounds, value, error):
    """Integer bounds are inclusive; an open lower bound excludes lo; non-numbers and NaN fail."""
    if error is None:
        check_range(value, **bounds)
    else:
        with pytest.raises(ValueError, match=error):
            check_range(value, **bounds)


def test_check_choice_lists_the_choices_sorted():
    check_choice("b", {"b": 1, "a": 2}, "kind")
    with pytest.raises(ValueError, match=r"kind must be one of \['a', 'b'\], got 'c'"):
        check_choice("c", {"b": 1, "a": 2}, "kind")


def test_config_methods_name_the_field_with_the_prefix():
    assert Knobs(count=8, gain=2.0, mode="exact").count == 8
    assert Knobs(gain=None).gain is None  # an unset optional field is not range-checked
    with pytest.raises(ValueError, match=r"^knobs: count must be an integer in \[1, 8\], got 9$"):
        Knobs(count=9)
    with pytest.raises(ValueError, match=r"^knobs: gain must be a number in \(0, 2\], got 0.0$"):
        Knobs(gain=0.0)
    with pytest.raises(ValueError, match=r"^knobs: mode must be one of \['exact', 'fast'\], got 'slow'$"):
        Knobs(mode="slow")
    with pytest.raises(ValueError, match=r"^knobs: count must be an int, got '4'$"):
        Knobs(count="4")


@pytest.mark.parametrize("name", modalities.names())
def test_every_modality_options_class_is_a_config(name):
    cls = type(modalities.get(name).DEFAULTS)
    assert issubclass(cls, Config), cls
    default = cls()
    assert cls.from_dict(default.to_dict()) == default  # a round trip through plain data
    with pytest.raises(ValueError, match="unknown keys"):
        cls.from_dict({"no_such_option": 1})


def test_modality_options_type_errors_name_the_modality_and_option():
    with pytest.raises(ValueError, match=r"^depth: option size must be an int, got '224'$"):
        DepthConfig(size="224")
    with pytest.raises(ValueError, match=r"^depth: option size must be an integer in \[1, 4096\], got 0$"):
        DepthConfig(size=0)
    assert DepthConfig(size=np.int32(112)).size == 112  # numpy integers are integers
    assert ThermalConfig(value_range=[250, 320]).value_range == (250.0, 320.0)
    with pytest.raises(ValueError, match=r"thermal: option value_range needs lo < hi"):
        ThermalConfig(value_range=(320, 250))


def test_export_configs_check_their_fields():
    from codebind_core.export.onnx_export import MIN_OPSET, OnnxExportConfig
    from codebind_core.export.tensorrt_engine import TensorRTConfig

    assert OnnxExportConfig(opset=MIN_OPSET, max_batch=2).opset == MIN_OPSET
    with pytest.raises(ValueError, match=r"opset must be an integer in \[18, "):
        OnnxExportConfig(opset=MIN_OPSET - 1)
    with pytest.raises(ValueError, match=r"precision must be one of \['fp16', 'fp32'\], got 'int4'"):
        OnnxExportConfig(precision="int4")
    with pytest.raises(ValueError, match=r"max_batch must be an integer in \[2, "):
        OnnxExportConfig(max_batch=1)
    assert TensorRTConfig(clips=[1, 2, 4]).clips == (1, 2, 4)
    with pytest.raises(ValueError, match=r"need 1 <= min_batch <= opt_batch <= max_batch"):
        TensorRTConfig(min_batch=9, opt_batch=8)
    with pytest.raises(ValueError, match=r"clips must be a list of ints"):
        TensorRTConfig(clips=(1, 2.5, 4))


def test_object_config_is_a_config_with_its_own_checks():
    from codebind_core.memory import ObjectConfig

    assert ObjectConfig.from_dict({"gate_distance": 0.5}).gate_distance == 0.5
    with pytest.raises(ValueError, match=r"^ObjectConfig: gate_distance must be a finite number, got 'far'$"):
        ObjectConfig(gate_distance="far")
    with pytest.raises(ValueError, match=r"^ObjectConfig: reid_similarity must be in \[min_similarity, 1\]"):
        ObjectConfig(min_similarity=0.9, reid_similarity=0.8)
    with pytest.raises(ValueError, match=r"unknown keys in config: \['gate'\]"):
        ObjectConfig.from_dict({"gate": 0.5})


def test_type_hints_are_resolved_once_per_class_and_read_only():
    import gc
    import typing

    from codebind_core.config_base import type_hints
    first = type_hints(Knobs)
    assert dict(first) == typing.get_type_hints(Knobs)
    assert type_hints(Knobs) is first  # cached: a config is built per sensor frame
    with pytest.raises(TypeError):
        first["count"] = str  # type: ignore[index]
    with pytest.raises(ValueError, match="knobs: count must be an int, got .4."):
        Knobs(count="4")  # the cached hints still check every field
    local = dataclasses.make_dataclass("Local", [("n", int, 1)], bases=(Config,), frozen=True)
    assert type_hints(local)["n"] is int
    ref = __import__("weakref").ref(local)
    del local
    gc.collect()
    assert ref() is None  # the cache does not keep a class alive
