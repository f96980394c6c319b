"""Materials: the physical constants that make a material visible to touch, sound and heat only.

Material never changes RGB colour. It sets
- tactile: surface micro-texture kind, roughness amplitude, texture wavelength, softness;
- audio (modal synthesis): stiffness (pitch factor, ~ speed of sound relative to steel), modal
  damping d_k = alpha + beta * f_k [1/s] and the contact-pulse duration (hard -> short click);
- thermal: emissivity (polished metal reflects its surroundings and looks cooler than it is).
Values are textbook orders of magnitude, not measurements; texture wavelengths are kept above
two pixels of the default 20 mm / 32 px gel so that they are resolved.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict


@dataclass(frozen=True)
class MaterialSpec:
    name: str
    emissivity: float
    stiffness: float
    damping_alpha: float
    damping_beta: float
    contact_ms: float
    texture: str
    roughness_m: float
    texture_wavelength_m: float
    softness: float
    word: str


MATERIALS: Dict[str, MaterialSpec] = {m.name: m for m in [
    MaterialSpec("metal", 0.15, 1.00, 1.0, 0.0010, 0.08, "brushed", 25e-6, 1.3e-3, 0.0, "metal"),
    MaterialSpec("glass", 0.92, 0.90, 2.5, 0.0020, 0.10, "smooth", 2e-6, 4.0e-3, 0.0, "glass"),
    MaterialSpec("ceramic", 0.90, 0.80, 5.0, 0.0040, 0.15, "granular", 20e-6, 1.3e-3, 0.0, "ceramic"),
    MaterialSpec("wood", 0.90, 0.55, 18.0, 0.0150, 0.45, "grain", 45e-6, 2.5e-3, 0.2, "wooden"),
    MaterialSpec("plastic", 0.93, 0.45, 28.0, 0.0200, 0.60, "matte", 10e-6, 2.0e-3, 0.3, "plastic"),
    MaterialSpec("rubber", 0.95, 0.28, 70.0, 0.0500, 2.00, "bumpy", 70e-6, 2.5e-3, 1.0, "rubber"),
]}


def material_spec(name: str) -> MaterialSpec:
    """The registered material ``name`` (ValueError if unknown)."""
    if name not in MATERIALS:
        raise ValueError(f"unknown material {name!r}; known: {sorted(MATERIALS)}")
    return MATERIALS[name]
