"""A QueryText answer as a person reads it: objects with where, when and how often they were seen,
or ranked observations."""
from __future__ import annotations

from typing import List, Optional

OBJECT = 1  # QueryResult.OBJECT (kept here so formatting needs no generated interfaces)


def _ago(stamp, now_ns: Optional[int]) -> str:
    t = stamp.sec + stamp.nanosec * 1e-9
    if now_ns is None or now_ns <= 0:
        return f"t={t:.3f}"
    ago = now_ns * 1e-9 - t
    if ago < 0:
        return f"t={t:.3f}"
    if ago < 120:
        return f"{ago:.0f} s ago"
    return f"{ago / 60:.0f} min ago" if ago < 7200 else f"{ago / 3600:.1f} h ago"


def _xyz(p, digits: int = 2) -> str:
    x, y, z = (round(v, digits) + 0.0 for v in (p.x, p.y, p.z))  # + 0.0: no "-0.00"
    return f"({x:.{digits}f}, {y:.{digits}f}, {z:.{digits}f})"


def object_lines(rank: int, r, now_ns: Optional[int]) -> List[str]:
    size = f", size {r.extent.x:.2f} x {r.extent.y:.2f} x {r.extent.z:.2f} m" if r.extent.x or r.extent.y else ""
    lines = [f"{rank:2d}. object #{r.object_id}  score {r.score:.2f}  at {_xyz(r.position)} m in '{r.frame_id}'{size}"]
    seen = f"last seen {_ago(r.stamp, now_ns)}, {r.views} view{'s' if r.views != 1 else ''}"
    if r.modalities:
        seen += f", seen by {', '.join(r.modalities)}"
    if r.status and r.status != "present":
        seen += f"; {r.status} (its place was seen empty)"
    if r.moves:
        was = f" from {_xyz(r.previous_position)}" if r.has_previous_position else ""
        seen += f"; moved {r.moves} time{'s' if r.moves != 1 else ''} (last{was})"
    return lines + [f"    {seen}"]


def observation_lines(rank: int, r, now_ns: Optional[int]) -> List[str]:
    where = f"at {_xyz(r.position, 3)} m in '{r.frame_id}'" if r.has_position else "no 3-D position"
    box = f", box x={r.box.x_offset} y={r.box.y_offset} w={r.box.width} h={r.box.height}" if r.has_box else ""
    return [f"{rank:2d}. score {r.score:.3f}  {r.modality:<10s} {where}{box}  {_ago(r.stamp, now_ns)}"]


NO_OBJECTS_HINT = (
    "the memory holds no objects yet: objects come from the localisation node (codebind-localisation), "
    "which needs the camera and depth encoders' frames and the robot's pose (odometry or /tf) to place "
    "what it finds; --observations searches the raw observations the encoders sent instead")


def format_answer(text: str, response, now_ns: Optional[int] = None, observations: bool = False) -> str:
    """Human-readable answer of a QueryText response (``now_ns``: say how long ago things were seen;
    ``observations``: the request asked for raw observations, not objects)."""
    if not response.success:
        return f"query {text!r} failed: {response.message}"
    results = list(response.results)
    if not results:
        hint = ""
        if not observations and response.message.startswith("0 of 0 objects"):
            hint = f"\n{NO_OBJECTS_HINT}"
        return f"{text!r}: nothing matches well enough ({response.message}){hint}"
    objects = all(r.kind == OBJECT for r in results)
    noun = "object" if objects else "result"
    lines = [f"{text!r}: {len(results)} {noun}{'s' if len(results) != 1 else ''} ({response.message})"]
    for rank, r in enumerate(results, 1):
        lines += object_lines(rank, r, now_ns) if r.kind == OBJECT else observation_lines(rank, r, now_ns)
    return "\n".join(lines)
