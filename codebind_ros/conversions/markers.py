"""RViz markers for localisation results: a box per located object and a label with its score."""
from __future__ import annotations

from builtin_interfaces.msg import Duration
from visualization_msgs.msg import Marker, MarkerArray

MIN_SIZE = 0.02  # m: markers never vanish for flat or unknown extents


def localisation_markers(results, ns: str = "codebind", lifetime_s: float = 2.0,
                         label: str = "") -> MarkerArray:
    """MarkerArray for a ``codebind_ros/LocalizationArray``: first a DELETEALL (clears the previous
    set), then for every result with a 3-D position a CUBE (green for the best, amber otherwise,
    more opaque for higher scores) and a TEXT_VIEW_FACING label above it."""
    if lifetime_s < 0:
        raise ValueError(f"lifetime_s must be >= 0, got {lifetime_s}")
    out = MarkerArray()
    clear = Marker(action=Marker.DELETEALL, ns=ns)
    clear.header = results.header
    out.markers.append(clear)
    life = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1) * 1e9))
    text = label or results.query_text or results.query_modality
    for rank, r in enumerate(results.results):
        if not r.has_position:
            continue
        cube = Marker(ns=ns, id=2 * rank, type=Marker.CUBE, action=Marker.ADD, lifetime=life)
        cube.header = results.header
        cube.pose.position = r.position
        cube.pose.orientation.w = 1.0
        cube.scale.x = max(float(r.size.x), MIN_SIZE)
        cube.scale.y = max(float(r.size.y), MIN_SIZE)
        cube.scale.z = max(float(r.size.z), MIN_SIZE)
        best = rank == 0
        cube.color.r, cube.color.g, cube.color.b = (0.0, 0.9, 0.0) if best else (1.0, 0.78, 0.0)
        cube.color.a = float(min(1.0, max(0.2, 0.3 + 0.7 * r.score)))
        tag = Marker(ns=ns, id=2 * rank + 1, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, lifetime=life)
        tag.header = results.header
        tag.pose.position.x = r.position.x
        tag.pose.position.y = r.position.y - cube.scale.y / 2 - 0.03  # optical frame: -y is up
        tag.pose.position.z = r.position.z
        tag.pose.orientation.w = 1.0
        tag.scale.z = 0.04
        tag.color.r = tag.color.g = tag.color.b = tag.color.a = 1.0
        tag.text = f"{text} {r.score:.2f}" if text else f"{r.score:.2f}"
        out.markers.extend([cube, tag])
    return out
