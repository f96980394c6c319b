"""Typed, self-validating configuration of the observation memory."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

from ..config_base import Config

SYNCHRONOUS_MODES = ("NORMAL", "FULL")
MISMATCH_POLICIES = ("error", "reindex")
INDEX_KINDS = ("exact", "ivf")


@dataclass
class MemoryConfig(Config):
    """How the memory stores and searches observations.

    Attributes:
        max_observations: bound on stored observations; the oldest are evicted (SQLite and mirror).
        max_top_k: a query never returns more than this many results.
        max_text_chars: bound on the length of a text query (see :meth:`bounded_query`).
        synchronous: SQLite ``synchronous`` pragma under WAL. Both modes keep every committed
            observation across a process kill (SIGKILL); ``FULL`` also across power loss.
        on_codebook_mismatch: opening a database written with other codebooks either raises
            (``error``) or re-quantizes the stored codes with the new codebooks (``reindex``).
        index: ``exact`` scans every code row with the lookup tables; ``ivf`` first picks the
            ``ivf_nprobe`` coarse cells nearest the query (approximate, exact scores).
        ivf_nlist: coarse cells per codebook set; 0 picks ``sqrt(N)`` at training time.
        ivf_nprobe: cells scanned per query.
        ivf_min_observations: below this many observations of a codebook set, ``ivf`` scans
            exactly; the coarse cells are trained when it is reached.
        ivf_train_sample: observations sampled to train the coarse cells (k-means).
    """

    config_label: ClassVar[str] = "memory config"
    error_prefix: ClassVar[str] = "MemoryConfig: "

    max_observations: int = 1_000_000   # stored observations at most (oldest evicted)
    max_top_k: int = 100                # results per query at most
    max_text_chars: int = 256           # characters per text query at most
    synchronous: str = "FULL"           # SQLite synchronous pragma: NORMAL | FULL
    on_codebook_mismatch: str = "error"  # other codebooks in the database: error | reindex
    index: str = "exact"                # exact | ivf
    ivf_nlist: int = 0                  # coarse cells per codebook set; 0: sqrt(N)
    ivf_nprobe: int = 32                # cells scanned per query
    ivf_min_observations: int = 50_000  # below this, ivf scans exactly
    ivf_train_sample: int = 32_768      # observations sampled to train the cells

    def validate(self) -> None:
        super().validate()
        check = self.check
        check(self.max_observations >= 1, f"max_observations must be >= 1, got {self.max_observations}")
        check(1 <= self.max_top_k <= 10_000, f"max_top_k must be in [1, 10000], got {self.max_top_k}")
        check(self.max_text_chars >= 1, f"max_text_chars must be >= 1, got {self.max_text_chars}")
        check(self.synchronous in SYNCHRONOUS_MODES,
              f"synchronous must be one of {SYNCHRONOUS_MODES}, got {self.synchronous!r}")
        check(self.on_codebook_mismatch in MISMATCH_POLICIES,
              f"on_codebook_mismatch must be one of {MISMATCH_POLICIES}, got {self.on_codebook_mismatch!r}")
        check(self.index in INDEX_KINDS, f"index must be one of {INDEX_KINDS}, got {self.index!r}")
        check(self.ivf_nlist >= 0, f"ivf_nlist must be >= 0, got {self.ivf_nlist}")
        check(self.ivf_nprobe >= 1, f"ivf_nprobe must be >= 1, got {self.ivf_nprobe}")
        check(self.ivf_min_observations >= 1, "ivf_min_observations must be >= 1")
        check(self.ivf_train_sample >= 256, "ivf_train_sample must be >= 256")

    def nlist_for(self, n: int) -> int:
        """Number of coarse cells for ``n`` observations."""
        if self.ivf_nlist:
            return min(self.ivf_nlist, max(1, n))
        return int(max(1, min(n, round(n ** 0.5))))

    def bounded_query(self, text: str, top_k: int) -> Tuple[str, int]:
        """Validate a text query: non-empty, at most ``max_text_chars``; clamp ``top_k``.

        Raises:
            ValueError: naming the problem (empty text, text too long, top_k < 1).
        """
        if not isinstance(text, str):
            raise ValueError(f"query text must be a string, got {type(text).__name__}")
        stripped = text.strip()
        if not stripped:
            raise ValueError("query text is empty")
        if len(text) > self.max_text_chars:
            raise ValueError(f"query text has {len(text)} characters; the limit is {self.max_text_chars}")
        if int(top_k) < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        return stripped, min(int(top_k), self.max_top_k)

    def bounded_top_k(self, top_k: int) -> int:
        if int(top_k) < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        return min(int(top_k), self.max_top_k)


def time_window(since_ns: Optional[int], until_ns: Optional[int]) -> Tuple[int, int]:
    """(lo, hi) inclusive stamp bounds in ns; ``None`` means unbounded."""
    lo = -(2 ** 63) if since_ns is None else int(since_ns)
    hi = 2 ** 63 - 1 if until_ns is None else int(until_ns)
    if lo > hi:
        raise ValueError(f"empty time window: since {lo} ns is after until {hi} ns")
    return lo, hi
