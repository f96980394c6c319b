"""SynthBind: a procedural multimodal benchmark where every sensor sees the same 3-D objects.

Quick start::

    from codebind_core.data.synth import SynthConfig, generate
    data = generate(SynthConfig(num_samples=20000), cache_dir="~/.cache/synthbind", workers=2)
    train = data.split("train")          # torch Dataset of dicts (see dataset.py)
    sample = train[0]; sample["depth"]   # raw numpy in the units codebind_core.modalities expects

Scenes for the ROS sensor player::

    from codebind_core.data.synth import ObjectSpec, PinholeCamera, render_scene
    cam = PinholeCamera.from_fov(640, 480, 60.0, PinholeCamera.look_at_pose((-1, 0, 0.6), (0.3, 0, 0)))
    frame = render_scene([ObjectSpec("torus", (0.3, 0.1), colour="blue")], cam)

See docs/synthbind.md for the factors, their visibility per modality and the splits.
"""
from .camera import PinholeCamera
from .captions import caption, class_name, class_prompts
from .config import MODALITIES, SPLITS, SynthConfig
from .dataset import SynthBindSet, SynthBindSplit
from .factors import HeldOutPairs, ObjectFactors, held_out_pairs, sample_factors
from .generator import generate, make_factors, split_of, split_ranges
from .materials import MATERIALS
from .sample import SYNTHESIZERS, synthesize
from .scene import ObjectSpec, SceneFrame, SceneObject, TabletopScene, render_scene
from .shapes import CATEGORIES, DEFAULT_CATEGORIES

__all__ = [
    "CATEGORIES", "DEFAULT_CATEGORIES", "MATERIALS", "MODALITIES", "SPLITS", "SYNTHESIZERS",
    "HeldOutPairs", "ObjectFactors", "ObjectSpec", "PinholeCamera", "SceneFrame", "SceneObject",
    "SynthBindSet", "SynthBindSplit", "SynthConfig", "TabletopScene",
    "caption", "class_name", "class_prompts", "generate", "held_out_pairs", "make_factors",
    "render_scene", "sample_factors", "split_of", "split_ranges", "synthesize",
]
