"""``codebind-export``: export a CodeBind model to ONNX (and TensorRT engines) per modality.

    codebind-export --checkpoint ckpt/ --out exported/ --verify
    codebind-export --checkpoint ckpt/ --out exported/ --modalities depth text --precision fp32
    codebind-export --checkpoint ckpt/ --out exported/ --tensorrt --trt-max-batch 32   # GPU + TensorRT
    codebind-export --preset tiny --targets depth audio --out /tmp/exported --verify  # random weights
    codebind-export --checkpoint ckpt/ --out exported/ --modalities text --codebook-set audio

For every modality: ``<modality>.<precision>.onnx`` + ``.json`` manifest +
``<modality>.codebooks.safetensors``; with ``--tensorrt`` a cached ``.engine`` next to each fp32
graph (fp16 kernels unless ``--no-trt-fp16``).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

from ..inference import check_modalities
from .artifact import PRECISIONS
from .onnx_export import DEFAULT_OPSET, MIN_OPSET, exportable_modalities

FP16_VERIFY_BATCHES = (1, 16)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="codebind-export", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="checkpoint directory (config.json + model.safetensors)")
    src.add_argument("--preset", help="build a randomly initialised preset model (tiny, base): for trying the tool")
    ap.add_argument("--targets", nargs="+", help="target modalities of a --preset model")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--modalities", nargs="+", help="modalities to export (default: text, image and every target)")
    ap.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    ap.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (>= {MIN_OPSET})")
    ap.add_argument("--max-batch", type=int, default=1024, help="upper bound of the dynamic batch axis")
    ap.add_argument("--no-specific", action="store_true", help="export the shared part only (§3.4)")
    ap.add_argument("--codebook-set", help="codebook set for the bridges (text, image); default: the first target")
    ap.add_argument("--verify", action="store_true", help="check every graph against torch in ONNX Runtime")
    trt = ap.add_argument_group("TensorRT (needs the tensorrt package and a CUDA GPU)")
    trt.add_argument("--tensorrt", action="store_true", help="build (or reuse) an engine per fp32 graph")
    trt.add_argument("--no-trt-fp16", action="store_true", help="fp32 kernels only")
    trt.add_argument("--workspace-mib", type=int, default=1024)
    trt.add_argument("--min-batch", type=int, default=1)
    trt.add_argument("--opt-batch", type=int, default=8)
    trt.add_argument("--trt-max-batch", type=int, default=64)
    trt.add_argument("--force-rebuild", action="store_true", help="rebuild engines even when cached")
    trt.add_argument("--device", type=int, default=0, help="CUDA device index")
    return ap


def _load_model(args, ap: argparse.ArgumentParser):
    import codebind_core as cb

    if args.checkpoint:
        if args.targets:
            ap.error("--targets applies to --preset only (a checkpoint has its own targets)")
        return cb.load(args.checkpoint)
    targets = args.targets or ["depth"]
    return cb.create_model(cb.CodeBindConfig.preset(args.preset, targets=targets)).eval()


def main(argv: Optional[List[str]] = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    from .onnx_export import OnnxExportConfig, export_onnx
    from .artifact import model_fingerprint
    from .tensorrt_engine import (TensorRTConfig, TensorRTUnavailable, gpu_name, import_tensorrt,
                                  load_or_build_engine)
    from .verify import check_parity

    try:
        export_cfgs = [OnnxExportConfig(precision=p, opset=args.opset, specific=not args.no_specific,
                                        max_batch=args.max_batch) for p in args.precision]
        trt_cfg = TensorRTConfig(fp16=not args.no_trt_fp16, workspace_bytes=args.workspace_mib << 20,
                                 min_batch=args.min_batch, opt_batch=args.opt_batch,
                                 max_batch=args.trt_max_batch, force_rebuild=args.force_rebuild,
                                 device=args.device) if args.tensorrt else None
        if trt_cfg is not None:  # fail before the (slow) exports, not after
            import_tensorrt()
            gpu_name(trt_cfg.device)
        model = _load_model(args, ap)
        known = exportable_modalities(model)
        names = args.modalities or known
        try:
            check_modalities(names, known)
        except ValueError as e:
            ap.error(str(e))
        fingerprint = model_fingerprint(model)
        failed = False
        for modality in names:
            for cfg in export_cfgs:
                t0 = time.perf_counter()
                graph = export_onnx(model, modality, args.out, cfg, codebook_set=args.codebook_set,
                                    fingerprint=fingerprint)
                print(f"{graph.onnx_path}  ({time.perf_counter() - t0:.1f} s)")
                if args.verify:
                    batches = FP16_VERIFY_BATCHES if cfg.precision == "fp16" else (1, 3)
                    report = check_parity(model, graph, batch_sizes=batches)
                    print("  " + report.line())
                    failed |= not report.passed
                if trt_cfg is not None and cfg.precision == "fp32":
                    engine, rebuilt = load_or_build_engine(graph.onnx_path, trt_cfg)
                    print(f"  {engine} ({'built' if rebuilt else 'cached'})")
    except TensorRTUnavailable as e:
        print(f"codebind-export: {e}", file=sys.stderr)
        return 3
    except ValueError as e:
        print(f"codebind-export: error: {e}", file=sys.stderr)
        return 2
    if failed:
        print("codebind-export: parity check FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
