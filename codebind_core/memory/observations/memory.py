"""ObservationMemory: SQLite-backed observation store searched by codebook lookup tables.

Each observation's shared embedding is kept only as its m codebook indices (uint16 per
sub-vector: 16x smaller than float32 for d* = 8). A query vector q is turned into one lookup table
per codebook set, LUT[h, k] = <q_h, e_k> (m x K), and every stored row scores
sum_h LUT[h, codes[h]] / (||q|| ||x||): exactly the cosine of q with the decoded quantized vector x,
the vectors the model aligns (paper Eq. 1 uses quantized embeddings, §3.3). See kernels.py.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import warnings
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from ..codebooks import CodebookMismatchError, CodebookSet
from ..config import MemoryConfig, time_window
from ..kernels import scan_topk
from ..store import Closing, DamagedDatabaseError, ObservationStore, array_to_blob, blob_to_array
from .ivf import CoarseIndex, kmeans
from .mirror import ObservationMirror
from .types import Observation, SearchHit

_MAX_MODALITIES = 256


class ObservationMemory(Closing):
    """Persistent, bounded observation memory with exact code-table search.

    >>> mem = ObservationMemory("memory.db", CodebookSet.from_model(model))
    >>> ids = mem.add([Observation("depth", "depth", codes, stamp_ns, "map", position=(1, 2, 0))])
    >>> hits = mem.search({"depth": text_vector}, top_k=5)

    Thread-safe: one lock serialises writes and searches.
    """

    def __init__(self, db_path, codebooks: CodebookSet, config: Optional[MemoryConfig] = None):
        self.config = config or MemoryConfig()
        self.codebooks = codebooks
        self._lock = threading.RLock()
        self._store = ObservationStore(db_path, self.config.synchronous)
        self._mirrors: Dict[str, ObservationMirror] = {}
        self._coarse: Dict[str, CoarseIndex] = {}
        self._modality_ids: Dict[str, int] = {}
        self._count = 0
        self.reindexed = 0   # rows re-quantized when opened with other codebooks
        self.dropped_on_reindex = 0
        self.damaged_rows: List[int] = []  # ids of rows removed at load: codes unreadable
        self.lost_wal = self._store.lost_wal  # the database lost its -wal file (see store.py)
        if self.lost_wal:
            warnings.warn(self.lost_wal, RuntimeWarning, stacklevel=2)
        try:
            self._check_codebooks()
            self._load()
        except sqlite3.DatabaseError as e:
            self._store.close()
            raise DamagedDatabaseError(f"memory database {db_path} is damaged: {e}") from e
        except BaseException:
            self._store.close()
            raise

    # ---- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._store.close()

    def __len__(self) -> int:
        return self._count

    @property
    def store(self) -> ObservationStore:
        """The SQLite store (its connection is shared with the object memory of the same file)."""
        return self._store

    @property
    def lock(self) -> threading.RLock:
        """The lock serialising every use of the store's connection."""
        return self._lock

    @property
    def modalities(self) -> List[str]:
        """Modality names ever stored in this database."""
        return list(self._modality_ids)

    @property
    def codebook_sets(self) -> List[str]:
        """Codebook sets that have stored observations."""
        return [p for p, m in self._mirrors.items() if len(m)]

    def _check_codebooks(self) -> None:
        st = self._store
        stored = st.get_meta("codebooks_fingerprint")
        new = self.codebooks.fingerprint()
        if stored is None:
            self._write_codebooks()
            return
        if stored.decode() == new:
            return
        old_sets = json.loads(st.get_meta("codebook_sets") or b"[]")
        if self.config.on_codebook_mismatch == "error":
            raise CodebookMismatchError(
                f"memory database {st.path} was written with other codebooks (fingerprint "
                f"{stored.decode()[:12]}, codebook sets {old_sets}) than the model's ({new[:12]}, codebook sets "
                f"{sorted(self.codebooks.codebook_sets)}); use on_codebook_mismatch='reindex' to re-quantize "
                f"the stored codes, or another database file")
        old = CodebookSet({p: blob_to_array(st.get_meta(f"codebook:{p}")) for p in old_sets})
        self._reindex(old)

    def _write_codebooks(self) -> None:
        st = self._store
        st.begin()
        try:
            st.set_meta("codebooks_fingerprint", self.codebooks.fingerprint().encode())
            st.set_meta("codebook_sets", json.dumps(sorted(self.codebooks.codebook_sets)).encode())
            for p in self.codebooks.codebook_sets:
                st.set_meta(f"codebook:{p}", array_to_blob(self.codebooks.book(p)))
            st.commit()
        except Exception:
            st.rollback()
            raise

    def _reindex(self, old: CodebookSet) -> None:
        """Decode stored codes with the old codebooks, re-quantize with the new ones (nearest
        codevector by cosine); observations of codebook sets the new model lacks are deleted."""
        st = self._store
        new_sets = set(self.codebooks.codebook_sets)
        updates: Dict[str, List] = {}
        for ids, sets, _, _, blobs, _ in st.scan():
            for i, p, b in zip(ids, sets, blobs):
                updates.setdefault(p, []).append((i, b))
        st.begin()
        try:
            for p, rows in updates.items():
                ok = p in new_sets and p in old.books
                if ok:
                    codes = np.stack([np.frombuffer(b, np.uint16) for _, b in rows])
                    decoded = old.decode(p, codes)
                    ok = decoded.shape[1] % self.codebooks.sub_dim(p) == 0
                if not ok:
                    self.dropped_on_reindex += st.delete_codebook_set(p)
                    continue
                st.update_codes(np.asarray([i for i, _ in rows]), self.codebooks.quantize(p, decoded))
                self.reindexed += len(rows)
            st.clear_cells()
            for p in updates:
                st.delete_meta(f"ivf:{p}")
            st.commit()
        except Exception:
            st.rollback()
            raise
        self._write_codebooks()

    def _load(self) -> None:
        """Rebuild the in-memory mirror (and coarse cells) from the database."""
        for mod in json.loads(self._store.get_meta("modalities") or b"[]"):
            self._modality_id(mod, persist=False)
        for ids, sets, mods, stamps, blobs, cells in self._store.scan():
            good = self._readable_rows(ids, sets, blobs)
            sets_arr = np.asarray(sets)
            for p in np.unique(sets_arr):
                sel = np.flatnonzero((sets_arr == p) & good)
                if not sel.size:
                    continue
                codes = np.stack([np.frombuffer(blobs[i], np.uint16) for i in sel])
                mod_ids = np.asarray([self._modality_id(mods[i]) for i in sel], np.uint8)
                self._append_mirror(str(p), codes, ids[sel], stamps[sel], mod_ids, cells[sel])
            self._count += int(good.sum())
        if self.damaged_rows:  # one bad row costs itself, not the memory
            st = self._store
            st.begin()
            try:
                for i in self.damaged_rows:
                    st.conn.execute("DELETE FROM observations WHERE id = ?", (int(i),))
                st.commit()
            except Exception:
                st.rollback()
                raise
        for p in list(self._mirrors) if self.config.index == "ivf" else []:
            blob = self._store.get_meta(f"ivf:{p}")
            if blob is not None:
                self._attach_coarse(p, CoarseIndex(blob_to_array(blob), self._mirrors[p].m))

    def _readable_rows(self, ids, sets, blobs) -> np.ndarray:
        """Mask of the rows whose codes fit their codebook set's codebook; the others' ids go to
        ``damaged_rows``."""
        good = np.ones(ids.size, bool)
        for i, (p, b) in enumerate(zip(sets, blobs)):
            try:
                if not isinstance(b, bytes) or len(b) % 2 or p not in self.codebooks.books:
                    raise ValueError
                self.codebooks.check_codes(p, np.frombuffer(b, np.uint16))
            except ValueError:
                good[i] = False
                self.damaged_rows.append(int(ids[i]))
        return good

    # ---- writing -----------------------------------------------------------------------------
    def _modality_id(self, modality: str, persist: bool = True) -> int:
        mid = self._modality_ids.get(modality)
        if mid is None:
            if len(self._modality_ids) >= _MAX_MODALITIES:
                raise ValueError(f"more than {_MAX_MODALITIES} distinct modality names")
            mid = self._modality_ids[modality] = len(self._modality_ids)
            if persist:
                self._store.set_meta("modalities", json.dumps(list(self._modality_ids)).encode())
        return mid

    def _append_mirror(self, codebook_set, codes, ids, stamps, mod_ids, cells) -> None:
        mirror = self._mirrors.get(codebook_set)
        if mirror is None or (len(mirror) == 0 and mirror.m != codes.shape[1]):
            mirror = self._mirrors[codebook_set] = ObservationMirror(codes.shape[1], capacity=max(1024, codes.shape[0]))
        if codes.shape[1] != mirror.m:
            raise ValueError(f"codebook set {codebook_set!r} stores {mirror.m} codes per observation, "
                             f"got {codes.shape[1]}")
        inv = self.codebooks.inverse_norms(codebook_set, codes)
        mirror.append(codes, ids, stamps, mod_ids, inv, cells)
        coarse = self._coarse.get(codebook_set)
        if coarse is not None:
            coarse.add(cells, codes, {"ids": ids, "stamps": stamps, "mod_ids": mod_ids, "inv_norm": inv})

    def add(self, observations: Sequence[Observation]) -> List[int]:
        """Store observations; returns their row ids once the transaction has committed (the
        acknowledgement: these rows survive a crash). Evicts the oldest beyond max_observations.

        Raises:
            ValueError: a malformed observation (nothing of the batch is stored then).
        """
        if not observations:
            return []
        checked = [o.validated() for o in observations]
        for o in checked:
            o.codes = self.codebooks.check_codes(o.codebook_set, o.codes)
            m = self._mirrors.get(o.codebook_set)
            if m is not None and len(m) and o.codes.size != m.m:
                raise ValueError(f"codebook set {o.codebook_set!r} stores {m.m} codes per observation, "
                                 f"got {o.codes.size}")
        with self._lock:
            cells = [-1] * len(checked)
            for p, idx in _group(checked, lambda o: o.codebook_set).items():
                coarse = self._coarse.get(p)
                if coarse is not None:
                    codes = np.stack([checked[i].codes for i in idx])
                    for i, c in zip(idx, coarse.assign(self.codebooks.decode(p, codes))):
                        cells[i] = int(c)
            st = self._store
            st.begin()
            try:
                mod_ids = [self._modality_id(o.modality) for o in checked]
                ids = st.insert(checked, [None if c < 0 else c for c in cells])
                excess = self._count + len(ids) - self.config.max_observations
                cut = st.id_at_offset(excess - 1) if excess > 0 else None
                if cut is not None:
                    st.delete_through(cut)
                st.commit()
            except Exception:
                st.rollback()
                raise
            for p, idx in _group(checked, lambda o: o.codebook_set).items():
                self._append_mirror(
                    p, np.stack([checked[i].codes for i in idx]), np.asarray([ids[i] for i in idx], np.int64),
                    np.asarray([checked[i].stamp_ns for i in idx], np.int64),
                    np.asarray([mod_ids[i] for i in idx], np.uint8), np.asarray([cells[i] for i in idx], np.int32))
            self._count += len(ids)
            if cut is not None:
                self._count -= sum(m.evict_through(cut) for m in self._mirrors.values())
                for coarse in self._coarse.values():
                    coarse.evict_through(cut)
            if self.config.index == "ivf":
                for p in {o.codebook_set for o in checked}:
                    if p not in self._coarse and len(self._mirrors[p]) >= self.config.ivf_min_observations:
                        self.train_coarse(p)
            return ids

    def train_coarse(self, codebook_set: str, seed: int = 0) -> None:
        """(Re)train the coarse cells of a codebook set on a sample of its observations (k-means on the
        decoded vectors), assign every row and persist the cells."""
        with self._lock:
            mirror = self._mirrors.get(codebook_set)
            if mirror is None or not len(mirror):
                raise ValueError(f"no observations of codebook set {codebook_set!r} to train coarse cells on")
            rows = np.arange(mirror.start, mirror.end)
            rng = np.random.default_rng(seed)
            nlist = self.config.nlist_for(rows.size)
            sample = rows if rows.size <= self.config.ivf_train_sample else \
                np.sort(rng.choice(rows, self.config.ivf_train_sample, replace=False))
            centroids = kmeans(self.codebooks.decode(codebook_set, mirror.codes[sample]), nlist, seed=seed)
            coarse = CoarseIndex(centroids, mirror.m)
            cells = np.empty(rows.size, np.int32)
            for a in range(0, rows.size, 65536):
                part = rows[a: a + 65536]
                cells[a: a + 65536] = coarse.assign(self.codebooks.decode(codebook_set, mirror.codes[part]))
            st = self._store
            st.begin()
            try:
                st.update_cells(mirror.col("ids")[rows], cells)
                st.set_meta(f"ivf:{codebook_set}", array_to_blob(coarse.centroids))
                st.commit()
            except Exception:
                st.rollback()
                raise
            mirror.col("cells")[rows] = cells
            self._attach_coarse(codebook_set, coarse)

    def _attach_coarse(self, codebook_set: str, coarse: CoarseIndex) -> None:
        """Fill a coarse index with the codebook set's live rows (assigning rows stored without a cell)."""
        mirror = self._mirrors[codebook_set]
        rows = np.arange(mirror.start, mirror.end)
        cells = mirror.col("cells")
        missing = rows[cells[rows] < 0]
        if missing.size:
            cells[missing] = coarse.assign(self.codebooks.decode(codebook_set, mirror.codes[missing]))
        if cells[rows].max(initial=-1) >= coarse.nlist:
            raise ValueError(f"stored cell ids of codebook set {codebook_set!r} exceed the coarse index "
                             f"({coarse.nlist} cells)")
        coarse.add(cells[rows], mirror.codes[rows],
                   {k: mirror.col(k)[rows] for k in ("ids", "stamps", "mod_ids", "inv_norm")})
        self._coarse[codebook_set] = coarse

    # ---- reading -----------------------------------------------------------------------------
    def search(self, queries: Mapping[str, np.ndarray], top_k: int = 10,
               modalities: Optional[Iterable[str]] = None, since_ns: Optional[int] = None,
               until_ns: Optional[int] = None, exact: Optional[bool] = None) -> List[SearchHit]:
        """Rank stored observations by cosine to the query.

        Args:
            queries: codebook set -> (D,) query vector for that set (e.g. the text embedding
                computed with that set); sets without observations are skipped.
            top_k: results wanted (clamped to ``max_top_k``).
            modalities: only these modalities (None: all).
            since_ns, until_ns: inclusive time window on the observation stamps.
            exact: force the exact scan (True) or allow coarse cells (None/False follow the config).
        """
        k = self.config.bounded_top_k(top_k)
        t0, t1 = time_window(since_ns, until_ns)
        if not queries:
            raise ValueError("search needs at least one query vector (codebook set -> vector)")
        with self._lock:
            allowed = np.zeros(_MAX_MODALITIES, bool)
            if modalities is None:
                allowed[:] = True
            else:
                for mod in modalities:
                    mid = self._modality_ids.get(mod)
                    if mid is not None:
                        allowed[mid] = True
            all_scores, all_ids = [], []
            for codebook_set, q, lut, mirror, qn in self.codebooks.query_tables(queries, self._mirrors,
                                                                                 "stored codes"):
                scores, ids = self._scan_set(codebook_set, mirror, lut, np.asarray(q, np.float32), allowed, t0, t1,
                                             k, exact)
                all_scores.append(scores / qn)
                all_ids.append(ids)
            if not all_scores:
                return []
            scores = np.concatenate(all_scores)
            ids = np.concatenate(all_ids)
            order = np.argsort(-scores, kind="stable")[:k]
            found = self._store.fetch(ids[order])
            return [SearchHit(int(ids[i]), float(scores[i]), found[int(ids[i])]) for i in order]

    def _scan_set(self, codebook_set, mirror, lut, q, allowed, t0, t1, k, exact):
        """(scores, ids) of the codebook set's best k rows: coarse cells when allowed, else every row."""
        coarse = self._coarse.get(codebook_set)
        if coarse is not None and not exact and self.config.index == "ivf" and self.config.ivf_nprobe < coarse.nlist:
            lo, hi = coarse.probe(q, self.config.ivf_nprobe)
            c = coarse.cols
            scores, rows = scan_topk(coarse.codes, lut, c["inv_norm"], c["mod_ids"], allowed, c["stamps"],
                                     t0, t1, k, lo, hi)
            if rows.size >= min(k, len(mirror)):
                return scores, c["ids"][rows]
        c = mirror.cols
        scores, rows = scan_topk(mirror.codes, lut, c["inv_norm"], c["mod_ids"], allowed, c["stamps"], t0, t1, k,
                                 np.array([mirror.start]), np.array([mirror.end]))
        return scores, c["ids"][rows]

    def get(self, ids: Sequence[int]) -> Dict[int, Observation]:
        """Stored observations by id (evicted or unknown ids are absent)."""
        with self._lock:
            return self._store.fetch(ids)


def _group(items, key) -> Dict[str, List[int]]:
    groups: Dict[str, List[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(key(it), []).append(i)
    return groups
