"""What the camera saw at a proposal frame's stamp, for the object memory's seen-empty checks.

The memory node keeps the last few depth images (by stamp) and the latest CameraInfo; with the
sensor pose at that stamp they make a :class:`codebind_core.geometry.CameraView`, which tells the
object memory which object places the frame saw empty (moved or gone objects).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Optional, Tuple

import numpy as np

from codebind_core.geometry import CameraView, Pinhole, RigidTransform


class DepthViews:
    """The last ``max_frames`` depth images by (stamp, frame) and the latest intrinsics."""

    def __init__(self, max_frames: int = 16, max_range: float = 5.0):
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        self.max_frames, self.max_range = int(max_frames), float(max_range)
        self._depth: "OrderedDict[Tuple[int, str], np.ndarray]" = OrderedDict()
        self._camera: Optional[Pinhole] = None
        self._lock = threading.Lock()

    def add_camera(self, camera: Pinhole) -> None:
        with self._lock:
            self._camera = camera

    def add_depth(self, stamp_ns: int, frame_id: str, depth: np.ndarray) -> None:
        with self._lock:
            self._depth[(int(stamp_ns), frame_id.lstrip("/"))] = depth
            while len(self._depth) > self.max_frames:
                self._depth.popitem(last=False)

    def view(self, stamp_ns: int, frame_id: str, pose: RigidTransform) -> Optional[CameraView]:
        """The camera's view at ``stamp_ns`` posed by ``pose`` (fixed <- camera), or None without
        a depth image of that stamp or intrinsics of its size."""
        with self._lock:
            depth, cam = self._depth.get((int(stamp_ns), frame_id.lstrip("/"))), self._camera
        if depth is None or cam is None or depth.shape != (cam.height, cam.width):
            return None
        return CameraView(pose, cam, max_range=self.max_range, depth=depth)
