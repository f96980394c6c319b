"""The training batch stream: targets visited round-robin, each with its own resumable order.

Micro-batch i belongs to target ``targets[i % T]`` and is that target's (i // T)-th batch, so the
whole stream is a pure function of (seed, i) and a resumed run continues exactly where it stopped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Sequence

from .sampler import ResumableBatchSampler

Batch = Dict[str, Any]


@dataclass
class TargetData:
    """One bridge-target path's training pairs: ``dataset[i]`` is a sample and ``collate`` turns a
    list of samples into a model batch {"text": ..., "image": ..., <target>: ...}."""

    target: str
    dataset: Sequence
    collate: Callable[[List[Any]], Batch]


class RoundRobinStream:
    def __init__(self, parts: List[TargetData], batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 num_workers: int = 0):
        if not parts:
            raise ValueError("no training data: at least one target dataset is required")
        self.parts, self.batch_size, self.seed = parts, batch_size, seed
        self.rank, self.world_size, self.num_workers = rank, world_size, num_workers
        for p in parts:  # fail early on a dataset smaller than one global batch
            ResumableBatchSampler(len(p.dataset), batch_size, seed, rank, world_size)

    def batches(self, start: int = 0) -> Iterator[Batch]:
        """Micro-batches from global micro-step `start` on (infinite)."""
        t = len(self.parts)
        iters = []
        for j, p in enumerate(self.parts):
            first = (start - j + t - 1) // t  # number of this target's batches before `start`
            s = ResumableBatchSampler(len(p.dataset), self.batch_size, self.seed + 7919 * j,
                                      self.rank, self.world_size, start=first)
            iters.append(self._loader(p, s))
        i = start
        while True:
            yield next(iters[i % t])
            i += 1

    def _loader(self, part: TargetData, sampler: ResumableBatchSampler) -> Iterator[Batch]:
        """Batches in sampler order; with workers, a DataLoader builds them in parallel (same order)."""
        if self.num_workers == 0:
            return (part.collate([part.dataset[k] for k in idx]) for idx in sampler)
        from torch.utils.data import DataLoader

        return iter(DataLoader(part.dataset, batch_sampler=sampler, collate_fn=part.collate,
                               num_workers=self.num_workers, persistent_workers=True))

    def init_batches(self, per_target: int) -> List[Batch]:
        """A few batches per target for the codebook k-means init, drawn from an order independent
        of the training stream (so initialising does not shift the training batches)."""
        out = []
        for j, p in enumerate(self.parts):
            s = iter(ResumableBatchSampler(len(p.dataset), self.batch_size, self.seed + 104729 + j,
                                           self.rank, self.world_size))
            out += [p.collate([p.dataset[k] for k in next(s)]) for _ in range(per_target)]
        return out
