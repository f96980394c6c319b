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


def object_markers(objects, frame_id: str, stamp, highlight=None, query_text: str = "",
                   ns: str = "codebind_objects") -> MarkerArray:
    """MarkerArray of the memory's objects (:class:`codebind_core.memory.MemoryObject`, positions in
    ``frame_id``): a DELETEALL, then per object a SPHERE sized by its extent and a label (``#id``,
    views, modalities). Objects in ``highlight`` (id -> score, the answer to the last query) are
    green, the best one brightest, and their label names ``query_text`` and the score; the rest
    are grey."""
    from std_msgs.msg import Header

    highlight = highlight or {}
    header = Header(stamp=stamp, frame_id=frame_id)
    out = MarkerArray()
    out.markers.append(Marker(header=header, action=Marker.DELETEALL, ns=ns))
    best = max(highlight.values(), default=None)
    for obj in objects:
        body = Marker(header=header, ns=ns, id=2 * int(obj.id), type=Marker.SPHERE, action=Marker.ADD)
        body.pose.position.x, body.pose.position.y, body.pose.position.z = (float(v) for v in obj.position)
        body.pose.orientation.w = 1.0
        body.scale.x, body.scale.y, body.scale.z = (max(float(v), MIN_SIZE) for v in obj.extent)
        score = highlight.get(int(obj.id))
        if score is None:
            body.color.r = body.color.g = body.color.b = 0.6
            body.color.a = 0.5
        else:
            body.color.g, body.color.a = 0.9, 1.0 if score == best else 0.7
        label = Marker(header=header, ns=ns, id=2 * int(obj.id) + 1, type=Marker.TEXT_VIEW_FACING,
                       action=Marker.ADD)
        label.pose.position.x, label.pose.position.y = body.pose.position.x, body.pose.position.y
        label.pose.position.z = body.pose.position.z + body.scale.z / 2 + 0.05  # fixed frame: z up
        label.pose.orientation.w = 1.0
        label.scale.z = 0.05
        label.color.r = label.color.g = label.color.b = label.color.a = 1.0
        name = obj.label or f"#{obj.id}"
        label.text = f"{name} ({obj.views} views: {', '.join(obj.modalities)})"
        if score is not None:
            label.text = f"{query_text}: {score:.2f} | {label.text}" if query_text else f"{score:.2f} | {label.text}"
        out.markers.extend([body, label])
    return out
