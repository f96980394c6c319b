"""Start-up hook: let PyPI's CUDA torchvision wheel import on a CPU-only torch.

torchvision registers Python fake kernels for ``torchvision::nms``/``qnms`` at import
time; with a CPU torch those op schemas are missing because the compiled extension
did not load. Defining the schemas first (no kernels) makes ``import torchvision``
work; codebind never calls these ops.
"""


def install() -> None:
    try:
        import torch
    except Exception:  # torch missing or broken: nothing to patch
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018 - the real extension is loaded
        return
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("torchvision", "DEF")  # noqa: F841 - keep alive
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    globals()["_LIB"] = lib


install()
