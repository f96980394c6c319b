"""Parameters of the memory + query node (declared up front; see codebind_ros.nodes.params)."""
from __future__ import annotations

from dataclasses import dataclass, field

from codebind_core.memory.config import MemoryConfig
from codebind_ros.nodes.encoder_params import MODALITIES
from codebind_ros.nodes.params import doc

_M = MemoryConfig()  # the memory's own defaults; the parameters that mirror it start from them


@dataclass
class MemoryParams:
    db_path: str = field(default="", metadata=doc(
        "SQLite file of the observations (re-opened on restart); '' = "
        "~/.ros/codebind/memory_<model_id>-<codebook fingerprint>.db (one per model)"))
    model_path: str = field(default="", metadata=doc("checkpoint directory (codebooks and text encoder)"))
    model_id: str = field(default="", metadata=doc("accepted Embedding model_id; '' = checkpoint name"))
    backend: str = field(default="torch", metadata=doc("unused here (text runs on the torch model); shared YAML key"))
    device: str = field(default="cpu", metadata=doc("torch device for the text encoder"))
    modalities: str = field(default=",".join(MODALITIES), metadata=doc(
        "comma-separated sensor modalities whose Embedding topics are stored"))
    store_proposals: bool = field(default=True, metadata=doc(
        "store the localisation node's proposals (embedding + 3-D position + box)"))
    min_period: float = field(default=0.5, metadata=doc(
        "seconds between stored whole-frame embeddings of one modality (0 = store every one)"))
    check_model_id: bool = field(default=True, metadata=doc("drop embeddings of another model_id"))
    max_observations: int = field(default=_M.max_observations, metadata=doc(
        "oldest observations are evicted beyond this"))
    # the node's own bound, below the memory's (MemoryConfig.max_top_k): answers stay short
    max_top_k: int = field(default=50, metadata=doc("a query returns at most this many results"))
    dedupe_distance: float = field(default=0.1, metadata=doc(
        "a result closer than this (m, same frame) to a better one is skipped: repeated sightings "
        "of one object count once (0 = keep all)"))
    max_text_chars: int = field(default=_M.max_text_chars, metadata=doc("longer query texts are refused"))
    synchronous: str = field(default=_M.synchronous, metadata=doc("SQLite synchronous mode: FULL or NORMAL"))
    index: str = field(default=_M.index, metadata=doc("search: exact (code-table scan) or ivf (coarse cells)"))
    ivf_nprobe: int = field(default=_M.ivf_nprobe, metadata=doc("ivf: cells scanned per query"))
    ivf_min_observations: int = field(default=_M.ivf_min_observations, metadata=doc(
        "ivf: train the cells at this size"))
    on_codebook_mismatch: str = field(default=_M.on_codebook_mismatch, metadata=doc(
        "a database of other codebooks: error, or reindex (re-quantize the stored codes)"))
    commit_period: float = field(default=0.2, metadata=doc("seconds between commits of pending observations"))
    input_qos_depth: int = field(default=1000, metadata=doc(
        "Embedding subscriptions: reliable, keep the last this many undelivered messages (bursts "
        "wait here; beyond it messages are lost and counted as dropped_transport)"))
    query_qos_depth: int = field(default=1000, metadata=doc(
        "QueryText service: reliable, keep the last this many requests the server has not taken "
        "yet (it takes them between two answers)"))
    max_pending_queries: int = field(default=200, metadata=doc(
        "queries waiting for their answer; one more is refused at once (success false, 'busy')"))
    query_timeout: float = field(default=10.0, metadata=doc(
        "a query that waited longer than this (s) for its turn is refused ('busy') instead of answered"))
    max_pending: int = field(default=2000, metadata=doc("observations waiting for a commit; older ones dropped"))
    diagnostics_period: float = field(default=1.0, metadata=doc("seconds between /diagnostics reports"))
    log_throttle_sec: float = field(default=5.0, metadata=doc("at most one warning per this many seconds"))

    def validate(self) -> None:
        mods = self.modality_list()
        unknown = [m for m in mods if m not in MODALITIES]
        if unknown:
            raise ValueError(f"parameter modalities has unknown {unknown}; known: {MODALITIES}")
        for name in ("max_observations", "max_top_k", "max_text_chars", "max_pending", "input_qos_depth", "ivf_nprobe",
                     "query_qos_depth", "max_pending_queries",
                     "ivf_min_observations"):
            if getattr(self, name) < 1:
                raise ValueError(f"parameter {name} must be >= 1, got {getattr(self, name)}")
        if self.commit_period <= 0 or self.diagnostics_period <= 0 or self.min_period < 0:
            raise ValueError("commit_period and diagnostics_period must be > 0, min_period >= 0")
        if self.query_timeout <= 0:
            raise ValueError(f"parameter query_timeout must be > 0, got {self.query_timeout}")
        if self.dedupe_distance < 0:
            raise ValueError(f"parameter dedupe_distance must be >= 0, got {self.dedupe_distance}")

    def modality_list(self):
        return [m.strip() for m in self.modalities.split(",") if m.strip()]
