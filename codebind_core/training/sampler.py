"""Deterministic, resumable batch order (also sharded across DDP ranks).

The order is a pure function of (seed, epoch): every epoch draws a fresh permutation from a
generator seeded with ``seed + epoch``; rank r of W takes every W-th index. The position in the
stream is just the number of micro-batches consumed, so a resumed run sees exactly the batches an
uninterrupted run would have seen, with no sampler state to store beyond the step counter.
"""
from __future__ import annotations

from typing import Iterator, List

import torch


class ResumableBatchSampler:
    """Yields lists of dataset indices, starting at micro-batch `start`; the last partial batch of
    each epoch is dropped so that every rank performs the same number of steps."""

    def __init__(self, num_samples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 start: int = 0, shuffle: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of size {world_size}")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.rank, self.world_size, self.start, self.shuffle = rank, world_size, start, shuffle
        if self.batches_per_epoch == 0:
            raise ValueError(f"dataset of {num_samples} samples is smaller than one batch "
                             f"({batch_size} x {world_size} ranks)")

    @property
    def batches_per_epoch(self) -> int:
        return self.num_samples // (self.batch_size * self.world_size)

    def epoch_order(self, epoch: int) -> List[int]:
        if not self.shuffle:
            return list(range(self.num_samples))
        g = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.num_samples, generator=g).tolist()

    def __iter__(self) -> Iterator[List[int]]:
        b = self.start
        while True:
            epoch, offset = divmod(b, self.batches_per_epoch)
            mine = self.epoch_order(epoch)[self.rank::self.world_size]
            for i in range(offset, self.batches_per_epoch):
                yield mine[i * self.batch_size:(i + 1) * self.batch_size]
            b = (epoch + 1) * self.batches_per_epoch
