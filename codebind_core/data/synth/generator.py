"""generate(): build (or reuse) a SynthBind set on disk, in parallel.

Samples are independent given (seed, index) (see :mod:`.factors`), so chunks are made by a pool
of worker processes that write straight into the memory-mapped arrays, and the result is
byte-identical for any number of workers. Worker processes are started with the ``spawn`` method
(open3d and torch are not fork-safe): scripts calling generate(workers > 1) need the usual
``if __name__ == "__main__":`` guard.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Tuple, Union

import numpy as np

from .config import GENERATOR_VERSION, SynthConfig
from .dataset import SynthBindSet
from .factors import ObjectFactors, held_out_pairs, sample_factors
from .sample import synthesize
from .store import FACTORS, META, TEXT, allocate, is_complete, modality_specs, open_array, set_dir

ChunkResult = Tuple[int, List[str], Dict[str, np.ndarray]]


def split_ranges(cfg: SynthConfig) -> Dict[str, Tuple[int, int]]:
    """[start, stop) sample indices of each split (consecutive blocks in SPLITS order)."""
    ranges, start = {}, 0
    for name, size in cfg.split_sizes().items():
        ranges[name] = (start, start + size)
        start += size
    return ranges


def split_of(cfg: SynthConfig, index: int) -> str:
    """The split that sample ``index`` belongs to."""
    for name, (start, stop) in split_ranges(cfg).items():
        if start <= index < stop:
            return name
    raise ValueError(f"sample index {index} out of range [0, {cfg.num_samples})")


def make_factors(cfg: SynthConfig, index: int) -> ObjectFactors:
    """The factors of sample ``index`` (exactly those :func:`generate` uses)."""
    return sample_factors(cfg, index, split_of(cfg, index), held_out_pairs(cfg))


def _work_chunk(args: Tuple[str, Dict, int, int]) -> ChunkResult:
    """Worker: synthesise samples [start, stop) into the memmaps under ``root``."""
    root, cfg_dict, start, stop = args
    cfg = SynthConfig.from_dict(cfg_dict)
    held = held_out_pairs(cfg)
    ranges = split_ranges(cfg)
    arrays = {name: open_array(Path(root), name, writable=True) for name in modality_specs(cfg)}
    texts: List[str] = []
    records: Dict[str, List[np.ndarray]] = {}
    for index in range(start, stop):
        split = next(name for name, (a, b) in ranges.items() if a <= index < b)
        factors = sample_factors(cfg, index, split, held)
        sample = synthesize(cfg, factors, index)
        for name, array in arrays.items():
            array[index] = sample[name]
        texts.append(str(sample.get("text", "")))
        for key, value in factors.to_record().items():
            records.setdefault(key, []).append(value)
    for array in arrays.values():
        array.flush()
    return start, texts, {k: np.stack(v) for k, v in records.items()}


def _init_worker() -> None:
    """One ray-casting thread per worker process: the pool already occupies the cores."""
    import open3d as o3d

    o3d.utility.set_max_threads(1)


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Spawned workers inherit the environment: keep BLAS/OpenMP to one thread each."""
    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def generate(cfg: SynthConfig, cache_dir: Union[str, Path], workers: int = 2, chunk_size: int = 64,
             progress: bool = False) -> SynthBindSet:
    """Return the SynthBind set of ``cfg``, generating it under ``cache_dir`` unless it is cached.

    Args:
        cfg: the benchmark definition; its :meth:`SynthConfig.cache_key` names the folder.
        cache_dir: parent folder of the cached sets.
        workers: processes (<= 1 runs in this process).
        chunk_size: samples per task.
        progress: print a progress bar (tqdm) to stderr.
    The returned set has ``cache_hit`` True when nothing was generated.
    """
    if not isinstance(cfg, SynthConfig):
        raise ValueError(f"generate() needs a SynthConfig, got {type(cfg).__name__}")
    if not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0, got {workers!r}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    root = set_dir(cache_dir, cfg)
    if is_complete(root):
        return SynthBindSet.open(root, cache_hit=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        t0 = time.perf_counter()
        allocate(tmp, cfg)
        tasks = [(str(tmp), cfg.to_dict(), a, min(a + chunk_size, cfg.num_samples))
                 for a in range(0, cfg.num_samples, chunk_size)]
        results = _run(tasks, workers, progress)
        _finish(tmp, cfg, results, time.perf_counter() - t0, workers)
        try:
            os.replace(tmp, root)
        except OSError:
            if not is_complete(root):  # lost a race against another generator of the same set
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return SynthBindSet.open(root, cache_hit=False)


def _run(tasks: List[Tuple[str, Dict, int, int]], workers: int, progress: bool) -> List[ChunkResult]:
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(b - a for _, _, a, b in tasks), unit="sample", desc="SynthBind")
    results = []

    def done(result: ChunkResult) -> None:
        results.append(result)
        if bar is not None:
            bar.update(len(result[1]))

    if workers <= 1:
        for task in tasks:
            done(_work_chunk(task))
    else:
        with _single_threaded_children(), mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for result in pool.imap_unordered(_work_chunk, tasks):
                done(result)
    if bar is not None:
        bar.close()
    return sorted(results, key=lambda r: r[0])


def _finish(root: Path, cfg: SynthConfig, results: List[ChunkResult], seconds: float, workers: int) -> None:
    texts = [t for _, chunk, _ in results for t in chunk]
    columns = {k: np.concatenate([r[2][k] for r in results]) for k in results[0][2]}
    (root / TEXT).write_text(json.dumps(texts))
    np.savez(root / FACTORS, **columns)
    held = held_out_pairs(cfg)
    meta = {
        "version": GENERATOR_VERSION, "key": cfg.cache_key(), "config": cfg.to_dict(),
        "num_samples": cfg.num_samples, "splits": {k: list(v) for k, v in split_ranges(cfg).items()},
        "modalities": {k: {"shape": list(s), "dtype": d} for k, (s, d) in modality_specs(cfg).items()},
        "heldout": {"colour": sorted(map(list, held.colour)), "material": sorted(map(list, held.material))},
        "generation": {"seconds": round(seconds, 3), "workers": workers},
        "complete": True,
    }
    (root / META).write_text(json.dumps(meta, indent=1))
