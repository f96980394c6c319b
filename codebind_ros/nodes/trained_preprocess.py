"""What an encoder node tells its log about preprocessing: the options the model was trained with
(``config.preprocess``, applied by ``model.preprocess``) and every node parameter that overrides
one, since a model fed other inputs than it was trained on loses accuracy silently."""
from __future__ import annotations

from typing import Any, Dict, List

from codebind_core.modalities import get as get_modality


def preprocess_notes(model, modality: str, given: Dict[str, Any], camera_info: bool) -> List[tuple]:
    """(level, text) lines: ``info`` for the trained options, ``warning`` per override."""
    trained = dict(model.config.preprocess.get(modality, {}))
    defaults = get_modality(modality).DEFAULTS
    notes = []
    if trained:
        notes.append(("info", f"{modality} preprocessing as trained: {trained}"))
    for key, value in sorted(given.items()):
        was = trained.get(key, getattr(defaults, key, None))
        if was != value:
            source = "trained with" if key in trained else "trained with the default"
            notes.append(("warning", f"parameter preprocess_options sets {modality} {key}={value!r}; the model "
                                     f"was {source} {key}={was!r}"))
    if camera_info and "focal_length" in trained and "focal_length" not in given:
        notes.append(("warning", f"use_camera_info: each CameraInfo's K[0, 0] replaces the focal_length "
                                 f"{trained['focal_length']!r} px the model was trained with"))
    return notes
