"""Start-up hook: let PyPI's CUDA torchvision wheel import on a CPU-only torch.

torchvision registers Python fake kernels for ``torchvision::nms``/``qnms`` at import
time; with a CPU torch those op schemas are missing because the compiled extension
did not load. Defining the schemas first (no kernels) makes ``import torchvision``
work; codebind never calls these ops.

scripts/bootstrap.sh installs this file into the venv's site-packages with a ``.pth``
line importing it, so it runs in every Python process of the venv. It must cost nothing
there: it only puts a finder on ``sys.meta_path``; torch is imported, and the schemas
are defined, when ``torchvision`` itself is first imported (the finder finds nothing, so
the normal import goes on).
"""
import sys
import _thread

_LIB = None  # the Library that owns the schemas; kept alive for the process


def define_schemas() -> None:
    """Define ``torchvision::nms``/``qnms`` unless they exist (the real extension loaded)."""
    global _LIB
    try:
        import torch
    except Exception:  # torch missing or broken: nothing to patch
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018 - defined already
        return
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB = lib


class TorchvisionFinder:
    """A meta-path finder that never finds anything: asked for ``torchvision`` the first time,
    it defines the schemas and lets the regular finders import the package. It stays on
    ``sys.meta_path`` (the import system iterates that list while calling it)."""

    def __init__(self):
        self._lock = _thread.RLock()  # other threads wait; a nested call (torch's import) passes
        self._busy = False
        self._done = False

    def find_spec(self, name, path=None, target=None):
        if name != "torchvision" or self._done:
            return None
        with self._lock:
            if self._busy or self._done:
                return None
            self._busy = True
            try:
                define_schemas()
            finally:
                self._done, self._busy = True, False
        return None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once per process)."""
    if "torchvision" in sys.modules:
        define_schemas()
        return
    if not any(isinstance(f, TorchvisionFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, TorchvisionFinder())


install()
