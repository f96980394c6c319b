"""Small conversions shared by the localisation and memory nodes: boxes, stamps, results."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from sensor_msgs.msg import RegionOfInterest

from codebind_ros.msg import QueryResult

Box = Tuple[float, float, float, float]


def box_to_roi(box: Optional[Box]) -> RegionOfInterest:
    """(x0, y0, x1, y1) inclusive pixel box -> RegionOfInterest (all zero for None)."""
    roi = RegionOfInterest()
    if box is None:
        return roi
    x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    x1, y1 = max(x0, math.ceil(box[2])), max(y0, math.ceil(box[3]))
    roi.x_offset, roi.y_offset = int(x0), int(y0)
    roi.width, roi.height = int(x1 - x0 + 1), int(y1 - y0 + 1)
    return roi


def roi_to_box(roi: RegionOfInterest) -> Optional[Box]:
    """RegionOfInterest -> inclusive (x0, y0, x1, y1), None for a zero-size ROI."""
    if roi.width == 0 or roi.height == 0:
        return None
    return (float(roi.x_offset), float(roi.y_offset),
            float(roi.x_offset + roi.width - 1), float(roi.y_offset + roi.height - 1))


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    ns = int(ns)
    if ns < 0:
        raise ValueError(f"a stamp must be >= 0 ns, got {ns}")
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def point(xyz: Optional[Sequence[float]]) -> Point:
    if xyz is None:
        return Point()
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def query_result(score: float, observation_id: int, modality: str, stamp_ns: int, frame_id: str,
                 position: Optional[Sequence[float]], box: Optional[Box]) -> QueryResult:
    """One ranked result of a QueryText service."""
    return QueryResult(score=float(score), observation_id=int(observation_id), modality=modality,
                       stamp=ns_to_stamp(stamp_ns), frame_id=frame_id,
                       has_position=position is not None, position=point(position),
                       has_box=box is not None, box=box_to_roi(box))


def object_result(score: float, obj, frame_id: str) -> QueryResult:
    """One ranked object (:class:`codebind_core.memory.MemoryObject`) of a QueryText answer."""
    from geometry_msgs.msg import Vector3

    out = query_result(score, 0, obj.modalities[0] if obj.modalities else "", obj.last_seen_ns, frame_id,
                       obj.position, None)
    out.kind, out.object_id = QueryResult.OBJECT, int(obj.id)
    out.extent = Vector3(x=float(obj.extent[0]), y=float(obj.extent[1]), z=float(obj.extent[2]))
    out.first_seen, out.views = ns_to_stamp(obj.first_seen_ns), int(obj.views)
    out.modalities, out.status, out.moves = list(obj.modalities), obj.status, int(obj.moves)
    out.has_previous_position = obj.previous_position is not None
    out.previous_position = point(obj.previous_position)
    return out
