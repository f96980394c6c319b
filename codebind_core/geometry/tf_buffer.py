"""A stamped transform buffer: the part of tf2's ``BufferCore`` a memory needs, without ROS.

Frames form a tree: every child frame has one parent. Each link (parent <- child) is either
static (valid at every time, like /tf_static) or dynamic (a history of stamped transforms, like
/tf or a nav_msgs/Odometry stream). ``lookup(target, source, stamp)`` chains the links through
the tree's common ancestor and, on each dynamic link, interpolates between the two transforms
bracketing the stamp (lerp + slerp, :meth:`RigidTransform.interpolate`), as tf2 does.

History is bounded: transforms older than ``cache_ns`` before a link's newest one are dropped, and
at most ``max_per_link`` are kept. A lookup that cannot be answered says why, so a caller can
decide between waiting and dropping:

- :class:`TransformNotYetAvailable`: the stamp is newer than a link's newest transform (it may
  still arrive: wait, bounded, e.g. with :class:`codebind_core.geometry.pending.PendingTransforms`);
- :class:`TransformTooOld`: the stamp is older than a link's oldest kept transform (it never will);
- :class:`FrameNotConnected`: a frame is unknown or the two frames share no ancestor (yet).
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .transform import RigidTransform


class TransformError(LookupError):
    """A transform lookup could not be answered."""


class FrameNotConnected(TransformError):
    """A frame is unknown, or the target and source frames have no common ancestor."""


class TransformNotYetAvailable(TransformError):
    """The stamp is after the newest transform of a link on the chain (it may still arrive)."""

    def __init__(self, msg: str, parent: str, child: str, newest_ns: int):
        super().__init__(msg)
        self.parent, self.child, self.newest_ns = parent, child, newest_ns


class TransformTooOld(TransformError):
    """The stamp is before the oldest kept transform of a link on the chain (it never will be)."""

    def __init__(self, msg: str, parent: str, child: str, oldest_ns: int):
        super().__init__(msg)
        self.parent, self.child, self.oldest_ns = parent, child, oldest_ns


@dataclass
class _Link:
    parent: str
    static: bool
    stamps: List[int] = field(default_factory=list)
    transforms: List[RigidTransform] = field(default_factory=list)

    def at(self, stamp_ns: int, child: str) -> RigidTransform:
        if self.static:
            return self.transforms[0]
        st = self.stamps
        if stamp_ns > st[-1]:
            raise TransformNotYetAvailable(
                f"{self.parent} <- {child}: no transform yet at {stamp_ns} ns (newest {st[-1]} ns, "
                f"{(stamp_ns - st[-1]) / 1e6:.3f} ms earlier)", self.parent, child, st[-1])
        if stamp_ns < st[0]:
            raise TransformTooOld(
                f"{self.parent} <- {child}: {stamp_ns} ns is older than the oldest kept transform "
                f"({st[0]} ns, {(st[0] - stamp_ns) / 1e6:.3f} ms later)", self.parent, child, st[0])
        i = bisect.bisect_left(st, stamp_ns)
        if st[i] == stamp_ns:
            return self.transforms[i]
        a, b = st[i - 1], st[i]
        return RigidTransform.interpolate(self.transforms[i - 1], self.transforms[i], (stamp_ns - a) / (b - a))


class TransformBuffer:
    """Thread-safe buffer of static and stamped transforms with chained, interpolated lookups.

    Args:
        cache_ns: history kept per dynamic link, counted back from its newest transform
            (tf2's default is 10 s).
        max_per_link: at most this many transforms per dynamic link (the oldest go first).
    """

    def __init__(self, cache_ns: int = 10 * 10**9, max_per_link: int = 100_000):
        if int(cache_ns) < 0:
            raise ValueError(f"cache_ns must be >= 0, got {cache_ns}")
        if int(max_per_link) < 2:
            raise ValueError(f"max_per_link must be >= 2 (two transforms to interpolate), got {max_per_link}")
        self.cache_ns = int(cache_ns)
        self.max_per_link = int(max_per_link)
        self._links: Dict[str, _Link] = {}   # child -> link to its parent
        self._lock = threading.Lock()

    # ---- writing ---------------------------------------------------------------------------------
    def set_transform(self, parent: str, child: str, transform: RigidTransform, stamp_ns: int,
                      static: bool = False) -> None:
        """Record ``parent <- child`` at ``stamp_ns`` (a static one holds at every time and replaces
        the previous one).

        Raises:
            ValueError: empty or equal frame names, a child given a second parent, a link switching
                between static and dynamic, a loop in the tree, a negative stamp.
        """
        if not isinstance(parent, str) or not isinstance(child, str) or not parent or not child:
            raise ValueError(f"frame names must be non-empty strings, got {parent!r} <- {child!r}")
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if parent == child:
            raise ValueError(f"a frame cannot be its own parent ({child!r})")
        if not isinstance(transform, RigidTransform):
            raise ValueError(f"transform must be a RigidTransform, got {type(transform).__name__}")
        stamp = int(stamp_ns)
        if stamp < 0:
            raise ValueError(f"stamp must be >= 0 ns, got {stamp}")
        with self._lock:
            link = self._links.get(child)
            if link is None:
                self._check_no_loop(parent, child)
                link = self._links[child] = _Link(parent, bool(static))
            elif link.parent != parent:
                raise ValueError(f"frame {child!r} already has parent {link.parent!r}; got {parent!r} "
                                 "(a frame has one parent)")
            elif link.static != bool(static):
                kind = "static" if link.static else "dynamic"
                raise ValueError(f"link {parent!r} <- {child!r} is {kind}; it cannot also be "
                                 f"{'static' if static else 'dynamic'}")
            if link.static:
                link.stamps, link.transforms = [stamp], [transform]
                return
            self._insert(link, stamp, transform)

    def _check_no_loop(self, parent: str, child: str) -> None:
        frame = parent
        while frame in self._links:
            frame = self._links[frame].parent
            if frame == child:
                raise ValueError(f"{parent!r} <- {child!r} would close a loop: {child!r} is an ancestor of {parent!r}")

    def _insert(self, link: _Link, stamp: int, transform: RigidTransform) -> None:
        st = link.stamps
        if not st or stamp > st[-1]:
            st.append(stamp)
            link.transforms.append(transform)
        else:
            i = bisect.bisect_left(st, stamp)
            if i < len(st) and st[i] == stamp:
                link.transforms[i] = transform   # the same stamp again: the newer message wins
            else:
                if i == 0 and st[-1] - stamp > self.cache_ns:
                    return  # older than the history kept: ignored, like tf2
                st.insert(i, stamp)
                link.transforms.insert(i, transform)
        cut = bisect.bisect_left(st, st[-1] - self.cache_ns)
        cut = max(cut, len(st) - self.max_per_link)
        if cut > 0:
            del st[:cut]
            del link.transforms[:cut]

    # ---- reading ---------------------------------------------------------------------------------
    def frames(self) -> List[str]:
        with self._lock:
            return sorted(set(self._links) | {lk.parent for lk in self._links.values()})

    def _chain(self, frame: str) -> List[str]:
        """``frame`` and its ancestors up to the root."""
        out = [frame]
        while out[-1] in self._links:
            out.append(self._links[out[-1]].parent)
        return out

    def latest_common_stamp(self, target: str, source: str) -> Optional[int]:
        """Newest stamp at which ``lookup(target, source)`` can be answered (None: static only)."""
        with self._lock:
            return self._latest(self._path(target, source))

    def _latest(self, links: List[Tuple[str, _Link]]) -> Optional[int]:
        dyn = [lk.stamps[-1] for _, lk in links if not lk.static]
        return min(dyn) if dyn else None

    def _path(self, target: str, source: str) -> List[Tuple[str, _Link]]:
        target, source = target.lstrip("/"), source.lstrip("/")
        known = set(self._links) | {lk.parent for lk in self._links.values()}
        for f in (target, source):
            if f not in known:
                raise FrameNotConnected(f"frame {f!r} is unknown (known: {sorted(known)})")
        up_s, up_t = self._chain(source), self._chain(target)
        common = next((f for f in up_s if f in set(up_t)), None)
        if common is None:
            raise FrameNotConnected(f"frames {target!r} and {source!r} are not connected (roots "
                                    f"{up_t[-1]!r} and {up_s[-1]!r})")
        return [(f, self._links[f]) for f in up_s[: up_s.index(common)]] + \
               [(f, self._links[f]) for f in up_t[: up_t.index(common)]]

    def lookup(self, target: str, source: str, stamp_ns: Optional[int] = None) -> RigidTransform:
        """``target <- source`` at ``stamp_ns`` (None: the newest stamp every link has).

        The result maps points given in ``source`` to ``target``.

        Raises:
            TransformTooOld, TransformNotYetAvailable, FrameNotConnected (all TransformError).
        """
        with self._lock:
            links = self._path(target, source)
            if target.lstrip("/") == source.lstrip("/"):
                return RigidTransform.identity()
            stamp = self._latest(links) if stamp_ns is None else int(stamp_ns)
            stamp = 0 if stamp is None else stamp
            up_s = [f for f in self._chain(source.lstrip("/"))]
            ups = []
            errors: List[TransformError] = []
            for child, link in links:
                try:
                    ups.append((child, link.at(stamp, child)))
                except TransformError as e:
                    errors.append(e)
            too_old = [e for e in errors if isinstance(e, TransformTooOld)]
            if too_old or errors:
                raise (too_old or errors)[0]
        # anchor <- source: compose the source side's links bottom-up; anchor <- target likewise
        src = RigidTransform.identity()
        tgt = RigidTransform.identity()
        for child, t in ups:
            if child in up_s:
                src = t * src
            else:
                tgt = t * tgt
        return tgt.inverse() * src

    def can_transform(self, target: str, source: str, stamp_ns: Optional[int] = None) -> bool:
        try:
            self.lookup(target, source, stamp_ns)
            return True
        except TransformError:
            return False
