"""The SynthBind benchmark: one command trains CodeBind and every baseline/ablation on the same
data and budget over several seeds, evaluates them, and writes one report (docs/results.md).

Pipeline: generate SynthBind (cached) -> Stage 0 bridge (cached) -> preprocess every modality
(cached) -> per finetune target, a hard-aligned start trunk (cached in ``aligned/<target>/``) ->
for each (setting, variant, targets, seed): train, evaluate, store ``runs/<name>.json`` (finished
runs are skipped when the command is re-run) -> tables, plots and the claim checks.

The finetune setting reproduces the shape of the paper's CodeBind-IB (App. A.3): ImageBind's
already aligned trunks are the start, and CodeBind fine-tunes them with LoRA; here the start is
a trunk trained by hard alignment to the same bridge, so every finetune variant begins from the
same aligned model and gets the same further steps and data.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
from safetensors.torch import load_file, save_file

from ..data.synth.captions import class_name, prompt_sets
from ..training.config import deep_merge
from ..data.prepared import PairDataset, PreparedSplit, collate_pairs
from ..training.rng import seed_everything
from ..training.run import bridge_model_cfg, ensure_synth_bridge
from ..training.stream import RoundRobinStream, TargetData
from ..data.synth_source import SynthSource, synth_config
from ..training.trainer import LoopSettings, Trainer
from .config import BenchmarkConfig
from ..evaluation.embed import embed
from ..evaluation.suite import EvalOptions, TargetEvalData, evaluate_target
from ..evaluation.tsne import plot_groups
from .variants import VARIANTS
from ..atomic import atomic_write
from ..evaluation.metrics import zero_shot_accuracy
from ..evaluation.suite import class_embeddings
from .report import write_report

Log = Callable[[str], None]


@dataclass
class BenchData:
    """Everything the runs share: prepared splits, probe subset, prompts, bridge weights."""

    train: PreparedSplit
    val: PreparedSplit                   # checkpoint selection only (never the test split)
    test: PreparedSplit
    unseen: PreparedSplit
    probe: PreparedSplit
    prompts: List[List[str]]
    bridge_weights: str
    stage0: Dict[str, Any]
    set_root: str


def bridge_cache_dir(cfg: BenchmarkConfig, source, model_cfg: Dict[str, Any]) -> Path:
    """Where the Stage-0 bridge of this data set, architecture and recipe is cached: under the
    data cache, so every benchmark (default, --quick, other out_dirs) on the same data shares it."""
    recipe = {"set": source.set.root.name, "model": model_cfg,
              "pretrain": {k: v for k, v in dataclasses.asdict(cfg.bridge_pretrain).items() if k != "output"}}
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(cfg.cache_dir) / "bridges" / key


def prepare(cfg: BenchmarkConfig, log: Log, set_root: Optional[str] = None) -> BenchData:
    """Data, Stage 0 and preprocessing (each cached); `set_root` reopens an existing set."""
    base = cfg.model.build()
    t = time.perf_counter()
    if set_root is not None:
        source = SynthSource.open(set_root, cfg.cache_dir)
    else:
        source = SynthSource(synth_config(cfg.synth), cfg.cache_dir, workers=cfg.workers, progress=False)
        log(f"SynthBind {len(source.set)} samples ({'cached' if source.set.cache_hit else 'generated'}) "
            f"in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    bridge_dir = bridge_cache_dir(cfg, source, bridge_model_cfg(base))
    weights = ensure_synth_bridge(source, base.inputs, bridge_model_cfg(base), cfg.bridge_pretrain, bridge_dir,
                                  seed=0, progress=False)
    stage0 = json.loads((bridge_dir / "stage0.json").read_text())
    log(f"Stage 0 bridge ready in {time.perf_counter() - t:.0f} s (val image->caption top-1 "
        f"{stage0.get('holdout_i2t_acc', float('nan')):.3f})")
    t = time.perf_counter()
    mods = ["image", *dict.fromkeys(cfg.finetune_targets + cfg.scratch_targets)]
    train = source.prepare(base.inputs, "train", mods)
    val = source.prepare(base.inputs, "val", mods)
    test = source.prepare(base.inputs, "test", mods)
    unseen = source.prepare(base.inputs, "test_unseen", mods)
    log(f"preprocessed {len(train)}/{len(test)}/{len(unseen)} train/test/unseen samples "
        f"in {time.perf_counter() - t:.0f} s")
    probe = train.subset(range(min(cfg.probe_samples, len(train))))
    prompts = prompt_sets([class_name(c) for c in source.categories])
    return BenchData(train, val, test, unseen, probe, prompts, weights, stage0, str(source.set.root))


ALIGNED = "aligned"  # <out_dir>/aligned/<target>/: the cached hard-aligned start trunks


def align_run(target: str) -> Dict[str, Any]:
    return {"setting": "align", "variant": "hard_align", "targets": [target], "seed": 0}


def aligned_dir(cfg: BenchmarkConfig, target: str) -> Path:
    """The cached start trunk of `target`, keyed by its align run's fingerprint (a start trained
    with other data, steps or model is never reused)."""
    return Path(cfg.out_dir) / ALIGNED / f"{target}-{cfg.fingerprint(align_run(target))[:10]}"


def _setting_overrides(cfg: BenchmarkConfig, run: Dict[str, Any], base) -> Dict[str, Any]:
    """Finetune runs start every target trunk from its hard-aligned start (``trunks.<t>.init``)
    and train it through LoRA (rank of the preset, last ``lora_last_k`` blocks) or in full."""
    if run["setting"] != "finetune":
        return {"lora": {"mode": "off"}}
    trunks = {t: {**dataclasses.asdict(base.trunk_for(t)), "init": str(aligned_dir(cfg, t) / "encoder.safetensors")}
              for t in run["targets"]}
    lora = VARIANTS[run["variant"]].lora
    return {"trunks": trunks, "lora": {"mode": "on" if lora else "off", "last_k": cfg.lora_last_k}}


def build_model(cfg: BenchmarkConfig, run: Dict[str, Any], bridge_weights: str):
    """The run's model: the variant's overrides on the benchmark's model, seeded with the run's
    seed; a finetune run also takes the shared heads of its hard-aligned start."""
    import codebind_core as cb

    base = cfg.model.build()
    over = deep_merge(deep_merge(cfg.model.overrides, VARIANTS[run["variant"]].overrides(base)),
                      _setting_overrides(cfg, run, base))
    spec = dataclasses.replace(cfg.model, targets=list(run["targets"]), overrides=over)
    seed_everything(run["seed"])
    model = cb.create_model(spec.build(bridge_weights=bridge_weights))
    if run["setting"] == "finetune":
        own = model.state_dict()
        for t in run["targets"]:
            heads = load_file(str(aligned_dir(cfg, t) / "heads.safetensors"))
            usable = {k: v for k, v in heads.items() if k in own and own[k].shape == v.shape}
            model.load_state_dict(usable, strict=False)
    return model


def save_aligned(model, cfg: BenchmarkConfig, target: str) -> None:
    """Cache a hard-aligned start: the target encoder (loaded as ``trunks.<t>.init``) and the
    shared projection heads (the stand-in for ImageBind's output heads)."""
    out = aligned_dir(cfg, target)
    out.mkdir(parents=True, exist_ok=True)
    enc = {k: v.detach().contiguous() for k, v in model.encoders[target].state_dict().items()}
    heads = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k.startswith("heads.")}
    atomic_write(out / "encoder.safetensors", lambda p: save_file(enc, p))
    atomic_write(out / "heads.safetensors", lambda p: save_file(heads, p))


def train_split(cfg: BenchmarkConfig, data: BenchData, target: str) -> PreparedSplit:
    """The training samples of `target`: the first ``target_fraction`` of a fixed permutation of
    the train split (the same subset for every variant and seed), or all of it."""
    frac = cfg.target_fraction.get(target, 1.0)
    if frac >= 1.0:
        return data.train
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(1234)).numpy()
    return data.train.subset(sorted(order[:max(cfg.batch_size, round(frac * len(data.train)))]))


def train_run(cfg: BenchmarkConfig, data: BenchData, run: Dict[str, Any], run_dir: Path):
    """Train one run; returns (model, last logged losses, selection). With ``cfg.select_every``,
    zero-shot Acc@1 on the val split is measured every that many steps and the best model's
    weights are kept: selection = {"step", "val_acc@1", "curve", "state"} (else None)."""
    model = build_model(cfg, run, data.bridge_weights)
    parts = []
    for t in run["targets"]:
        split = train_split(cfg, data, t)
        parts.append(TargetData(t, PairDataset(split, ["image", t], model.tokenize(split.captions)), collate_pairs))
    steps = cfg.steps_for(run["setting"]) * len(run["targets"])
    settings = LoopSettings(steps=steps, precision=cfg.precision, lr=cfg.lr_for(run["setting"]),
                            weight_decay=cfg.weight_decay, schedule="cosine", warmup_steps=cfg.warmup_steps,
                            checkpoint_every=steps, log_every=max(1, steps // 20), progress=False,
                            init_batches=cfg.init_batches, fingerprint=run["fingerprint"])
    trainer = Trainer(model, RoundRobinStream(parts, cfg.batch_size, run["seed"]), settings, run_dir,
                      torch.device("cpu"))
    selector = None
    if cfg.select_every and run["setting"] != "align":
        selector = ValSelector(model, run["targets"], data, cfg.select_every)
    rows = trainer.fit(resume=False, on_step=selector)
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # the benchmark keeps logs, not weights
    if run["setting"] == "align":
        save_aligned(model, cfg, run["targets"][0])
    return model, rows[-1], (selector.result() if selector is not None else None)


class ValSelector:
    """Checkpoint selection on the val split (the official code picks the best epoch on its
    evaluation set; here never on test): mean zero-shot Acc@1 over the run's targets."""

    def __init__(self, model, targets: List[str], data: BenchData, every: int):
        self.model, self.targets, self.data, self.every = model, targets, data, every
        self.best, self.step, self.state, self.curve = -1.0, 0, None, []

    def __call__(self, step: int) -> None:
        if step % self.every:
            return

        accs = []
        for t in self.targets:
            cls = class_embeddings(self.model, self.data.prompts, self.model.config.codebook_set_for(t))
            emb = embed(self.model, t, self.data.val.inputs(t))
            accs.append(zero_shot_accuracy(emb.shared, cls, self.data.val.labels, (1,))["acc@1"])
        acc = float(sum(accs) / len(accs))
        self.curve.append([step, acc])
        if acc > self.best:
            self.best, self.step = acc, step
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def result(self) -> Dict[str, Any]:
        return {"step": self.step, "val_acc@1": self.best, "curve": self.curve, "state": self.state}


def tsne_plots(model, cfg: BenchmarkConfig, data: BenchData, run: Dict[str, Any], fig_dir: Path) -> List[str]:
    """Fig. 4 (target vs caption shared embeddings) and Fig. 5 (shared vs specific) pictures."""
    out = []
    n = min(cfg.tsne_samples, len(data.test))
    sub = data.test.subset(range(n))
    for t in run["targets"]:
        if t not in cfg.tsne_targets:
            continue
        path = model.config.codebook_set_for(t)
        emb = embed(model, t, sub.inputs(t))
        txt = embed(model, "text", sub.captions, codebook_set=path)
        labels = {f"{t} shared": sub.labels, "caption (text)": sub.labels}
        f = plot_groups({f"{t} shared": emb.shared, "caption (text)": txt.shared}, labels,
                        fig_dir / f"tsne_gap_{run['variant']}_{t}.png",
                        f"{run['variant']}: {t} and caption embeddings (colour = category)")
        out.append(str(f))
        if emb.specific is not None:
            f = plot_groups({f"{t} shared": emb.shared, f"{t} specific": emb.specific},
                            {f"{t} shared": sub.labels, f"{t} specific": sub.labels},
                            fig_dir / f"tsne_decoupled_{run['variant']}_{t}.png",
                            f"{run['variant']}: {t} shared vs specific (colour = category)")
            out.append(str(f))
    return out


def run_one(cfg: BenchmarkConfig, data: BenchData, run: Dict[str, Any], out: Path) -> Dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    model, last, selection = train_run(cfg, data, run, out / "runs" / run["name"])
    t1 = time.perf_counter()
    opt = EvalOptions(toc_fractions=tuple(cfg.toc_fractions), toc_random=cfg.toc_random, toc_lambda=cfg.toc_lambda,
                      run_toc=run["variant"] == "codebind" and run["setting"] == "finetune", seed=run["seed"])

    def evaluate() -> Dict[str, Any]:
        return {t: evaluate_target(model, TargetEvalData(t, data.probe, data.test, data.unseen, data.prompts), opt)
                for t in run["targets"]}

    if cfg.keep_models and run["setting"] != "align":
        model.save(out / "models" / run["name"])
    metrics = evaluate()
    figures = []
    if run["setting"] == "finetune" and run["variant"] in ("codebind", "hard_align") and run["seed"] == cfg.seeds[0]:
        figures = tsne_plots(model, cfg, data, run, Path(cfg.report).parent / "figures")
    extra: Dict[str, Any] = {}
    if selection is not None:  # the val-selected weights, evaluated the same way on test
        model.load_state_dict(selection.pop("state"))
        extra = {"selection": selection, "metrics_selected": evaluate()}
    return {"run": run, "train_seconds": t1 - t0, "eval_seconds": time.perf_counter() - t1,
            "cpu_seconds": time.process_time() - c0, "threads": torch.get_num_threads(),
            "final_losses": last, "metrics": metrics, "figures": figures, **extra,
            "trainable_parameters": sum(p.numel() for p in model.trainable_parameters())}


def record_path(cfg: BenchmarkConfig, run: Dict[str, Any]) -> Path:
    return Path(cfg.out_dir) / "runs" / f"{run['name']}.json"


def finished_runs(cfg: BenchmarkConfig, runs: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """The records of `runs` finished earlier under ``cfg.out_dir``: reused only when the record's
    fingerprint is the run's (never by file name alone); an align run also needs its cached trunk."""
    done = {}
    for r in runs:
        path = record_path(cfg, r)
        if not path.is_file():
            continue
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("run", {}).get("fingerprint") != r["fingerprint"]:
            continue
        if r["setting"] == "align" and not (aligned_dir(cfg, r["targets"][0]) / "heads.safetensors").is_file():
            continue
        done[r["name"]] = rec
    return done


_WORKER: Dict[str, Any] = {}


def _worker_init(cfg_dict: Dict[str, Any], threads: int, set_root: str) -> None:
    """Pool worker: single-threaded torch (runs are the parallel unit) and the shared data, loaded
    from the caches the parent process filled."""
    torch.set_num_threads(threads)
    try:
        cfg = BenchmarkConfig.from_dict(cfg_dict)
        _WORKER["cfg"], _WORKER["data"] = cfg, prepare(cfg, lambda msg: None, set_root)
    except Exception as e:  # reported by the first task, instead of a pool restarting workers forever
        _WORKER["error"] = e


def _worker_run(run: Dict[str, Any]) -> Dict[str, Any]:
    if "error" in _WORKER:
        raise RuntimeError(f"benchmark worker failed to start: {_WORKER['error']!r}")
    return run_one(_WORKER["cfg"], _WORKER["data"], run, Path(_WORKER["cfg"].out_dir))


def run_benchmark(cfg: BenchmarkConfig, command: str, log: Optional[Log] = None) -> Path:
    """Run (or finish) the whole benchmark and write the report; returns the report path.

    Runs are independent within a phase, so ``cfg.parallel_runs`` worker processes
    (``cfg.threads_per_run`` torch threads each) train them side by side: first the hard-aligned
    start trunks, then every finetune and scratch run. Every run is seeded on its own, so the
    results do not depend on which worker ran it."""
    log = log or (lambda msg: print(msg, flush=True))
    start = time.perf_counter()
    out = Path(cfg.out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    base = cfg.model.build()
    skipped = {v: "the model config has no knob for it"
               for v in cfg.finetune_variants + cfg.ablation_variants + cfg.scratch_variants
               if not VARIANTS[v].available(base)}
    for v, why in skipped.items():
        log(f"skipping variant {v!r}: {why}")
    data = prepare(cfg, log)
    runs = [r for r in cfg.run_names() if r["variant"] not in skipped]

    def record(r: Dict[str, Any]) -> Path:
        return record_path(cfg, r)

    done = finished_runs(cfg, runs)
    reused = len(done)
    phases = [[r for r in runs if r["name"] not in done and (r["setting"] == "align") == first] for first in (1, 0)]
    log(f"{len(runs)} runs, {reused} already finished, {sum(map(len, phases))} to go on {cfg.parallel_runs} worker(s)")

    def finished(res: Dict[str, Any]) -> None:
        name = res["run"]["name"]
        record(res["run"]).write_text(json.dumps(res, indent=1))
        done[name] = res
        zs = {t: round(100 * m["zero_shot"]["acc@1"], 1) for t, m in res["metrics"].items()}
        log(f"[{len(done)}/{len(runs)}] {name}: train {res['train_seconds']:.0f} s, eval {res['eval_seconds']:.0f} s, "
            f"zero-shot acc@1 {zs}")

    if cfg.parallel_runs <= 1:
        torch.set_num_threads(cfg.threads_per_run)
        for run in phases[0] + phases[1]:
            finished(run_one(cfg, data, run, out))
    elif phases[0] or phases[1]:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(cfg.parallel_runs, _worker_init,
                                          (cfg.to_dict(), cfg.threads_per_run, data.set_root)) as pool:
            for phase in phases:
                for res in pool.imap_unordered(_worker_run, phase):
                    finished(res)
    results = [done[r["name"]] for r in runs]
    wall = time.perf_counter() - start
    report = write_report(cfg, results, data.stage0, skipped, command, wall, reused=reused)
    log(f"report written to {report} (wall {wall / 60:.1f} min)")
    return report
