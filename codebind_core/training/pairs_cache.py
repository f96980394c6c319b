"""``pairs_*`` data preprocessed once: every file is decoded, resized and normalised up front (in
``workers`` processes) into one float32 ``.npy`` per modality under ``cache_dir``; training then
reads rows of memory-mapped arrays. Decoding and resizing a 640 x 480 photo and depth image cost
about 0.1 s per pair on one core, far more than a tiny model's step, so preprocessing on access
held training at a few samples/s (docs/benchmarks.md).

The workers are started fresh (``spawn``): a forked one inherits the locks the caller's other
threads held at the fork (OpenMP's pool, a middleware's threads) and can block forever. A worker
that dies ends the build with ``BrokenProcessPool`` instead of a hang.

The cache directory is named by a hash of the rows (paths, sizes, modification times, captions,
labels) and of the resolved preprocessing options, so changed files or options make a new one;
it is written to a temporary directory and renamed when complete (an interrupted run leaves no
half cache). Values are float32, bit-identical to preprocessing on access.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch

from .pairs import ROW_FIELDS, PairRows, read_file
from ..data.prepared import cache_key
from ..modalities import get as get_modality
from ..modalities import model_options


def resolved_options(model, modality: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """The keyword options ``model.preprocess(modality, ...)`` passes to the modality module."""
    return {**model_options(modality, model.config.inputs), **model.trained_options(modality, options)}


def preprocess_row(row: Dict[str, Any], options: Dict[str, Dict[str, Any]]) -> Dict[str, np.ndarray]:
    """One row's files -> {modality: float32 array} (options resolved per modality)."""
    out = {}
    for m, opts in options.items():
        raw, opts = read_file(Path(row[m]), m), dict(opts)
        if isinstance(raw, dict):  # audio carries its sample rate
            opts.setdefault("sample_rate", raw["sample_rate"])
            opts.setdefault("resample", True)
            raw = raw["raw"]
        try:
            out[m] = get_modality(m).preprocess_batch([raw], **opts)[0].numpy()
        except ValueError as e:
            raise ValueError(f"{row[m]}: {e}") from e
    return out


def _work(args) -> tuple:
    i, row, options = args
    return i, preprocess_row(row, options)


def _work_chunk(chunk) -> list:
    return [_work(args) for args in chunk]


def _unordered(pool: ProcessPoolExecutor, tasks: list, chunk: int):
    """``_work`` over ``tasks`` in ``pool``, ``chunk`` at a time, results as chunks finish."""
    futures = [pool.submit(_work_chunk, tasks[k:k + chunk]) for k in range(0, len(tasks), chunk)]
    for future in as_completed(futures):
        yield from future.result()


def _init_worker() -> None:
    torch.set_num_threads(1)


def _stat(path: Path) -> list:
    st = Path(path).stat()
    return [str(path), st.st_size, st.st_mtime_ns]


class CachedPairs(PairRows):
    """The rows of a pairs dataset as preprocessed arrays (item = {modality: tensor, "text", "label"})."""

    def __init__(self, rows: List[Dict[str, Any]], model, options: Dict[str, Dict[str, Any]], cache_dir,
                 workers: int = 2, progress: bool = False):
        if not rows:
            raise ValueError("the paired dataset is empty")
        self.rows = rows
        self.modalities = tuple(m for m in rows[0] if m not in ROW_FIELDS)
        self.options = {m: resolved_options(model, m, options.get(m, {})) for m in self.modalities}
        key = cache_key([[_stat(r[m]) for m in self.modalities] + [r.get("text"), r.get("label")] for r in rows],
                        self.options)
        self.dir = Path(cache_dir).expanduser() / f"pairs-{key}"
        if not (self.dir / "done.json").is_file():
            self._build(workers, progress)
        self.arrays = {m: np.load(self.dir / f"{m}.npy", mmap_mode="r") for m in self.modalities}

    def _build(self, workers: int, progress: bool) -> None:
        tmp = self.dir.with_name(f"{self.dir.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        t0 = time.perf_counter()
        first = preprocess_row(self.rows[0], self.options)
        arrays = {m: np.lib.format.open_memmap(tmp / f"{m}.npy", mode="w+", dtype=np.float32,
                                               shape=(len(self.rows), *first[m].shape)) for m in first}
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(self.rows), desc="preprocess pairs", unit="pair", dynamic_ncols=True)
        try:
            tasks = [(i, self.rows[i], self.options) for i in range(1, len(self.rows))]
            results = iter([(0, first)])
            if workers > 1 and tasks:
                pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker)
                results = _chain(results, _unordered(pool, tasks, chunk=8))
            else:
                pool = None
                results = _chain(results, map(_work, tasks))
            for i, item in results:
                for m, x in item.items():
                    if x.shape != arrays[m].shape[1:]:
                        raise ValueError(f"{self.rows[i][m]}: preprocessed to {x.shape}, others to "
                                         f"{arrays[m].shape[1:]}")
                    arrays[m][i] = x
                if bar is not None:
                    bar.update(1)
            if pool is not None:
                pool.shutdown()
        except BaseException:
            if pool is not None:
                pool.shutdown(cancel_futures=True)  # waits only for the chunks under way
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            if bar is not None:
                bar.close()
        for a in arrays.values():
            a.flush()
        (tmp / "done.json").write_text(json.dumps({"pairs": len(self.rows), "options": self.options,
                                                   "seconds": time.perf_counter() - t0}, default=str))
        try:
            os.replace(tmp, self.dir)
        except OSError:  # another process finished the same cache first
            shutil.rmtree(tmp, ignore_errors=True)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        tensors = {m: torch.from_numpy(np.array(self.arrays[m][i])) for m in self.modalities}
        return self._item(self.rows[i], tensors)


def _chain(*its):
    for it in its:
        yield from it
