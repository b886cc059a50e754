"""Make ``import torchvision`` work where its C extension cannot load.

The torchvision wheels on PyPI are built against the CUDA build of torch. With the CPU build of
torch 2.13.0 their C extension (``torchvision/_C.so``) fails to load, and ``import torchvision``
(hence ``torchgeo``, ``timm`` and ``lightning``) then stops with
``RuntimeError: operator torchvision::nms does not exist``: torchvision's own
``_meta_registrations.py`` registers fake kernels for ``torchvision::nms`` and
``torchvision::qnms`` at import time and needs the operators to exist.

:func:`ensure_torchvision_ops` loads the extension the way torchvision does. Only when that fails
does it define the two operators with pure-PyTorch CPU kernels (greedy non-maximum suppression, as
in ``torchvision.ops.nms``). Where the extension loads it does nothing.

``import eospec`` calls :func:`install_import_hook`, which costs nothing (torch is not imported):
a one-shot finder at the front of ``sys.meta_path`` runs :func:`ensure_torchvision_ops` the
moment anything (eospec, torchgeo, lightning or user code) first imports torchvision. The mapping
path, which needs neither torchvision nor torchgeo, thus never pays for them.
"""

from __future__ import annotations

import glob
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

__all__ = ["ensure_torchvision_ops", "install_import_hook", "nms_reference", "torchvision_ops_status"]

_Status = Literal["extension", "fallback", "absent"]
_status: _Status | None = None
# Keeps the fallback library alive: torch unregisters its definitions when it is garbage collected.
_fallback_library: torch.library.Library | None = None


def _has_op(name: str) -> bool:
    """Return whether ``torch.ops.torchvision.<name>`` is a registered operator."""
    import torch

    try:
        getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return False
    return True


def _extension_paths() -> list[str]:
    """Paths of torchvision's compiled ``_C`` extension, found without importing torchvision."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return []
    paths: list[str] = []
    for folder in spec.submodule_search_locations:
        paths += glob.glob(os.path.join(folder, "_C*.so")) + glob.glob(os.path.join(folder, "_C*.pyd"))
    return paths


def _load_extension() -> bool:
    """Try to load torchvision's C extension; return whether ``torchvision::nms`` now exists."""
    import torch

    if _has_op("nms"):
        return True
    for path in _extension_paths():
        try:
            torch.ops.load_library(path)
        except (OSError, RuntimeError, ImportError):
            continue
    return _has_op("nms")


def nms_reference(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression in pure PyTorch.

    The same contract as ``torchvision.ops.nms``: boxes are visited in decreasing score order and a
    box is kept when its intersection over union (IoU) with every kept box is at most
    ``iou_threshold``.

    Args:
        boxes: float tensor of shape (N, 4), boxes as (x1, y1, x2, y2) with x1 < x2 and y1 < y2.
        scores: float tensor of shape (N,), one score per box.
        iou_threshold: boxes whose IoU with a kept box is above this value are discarded.

    Returns:
        int64 tensor of shape (K,): indices of the kept boxes, in decreasing order of score.

    Raises:
        ValueError: If ``boxes`` is not (N, 4) or ``scores`` not (N,).
    """
    import torch

    if boxes.dim() != 2 or boxes.size(1) != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    if scores.dim() != 1 or scores.size(0) != boxes.size(0):
        raise ValueError(f"scores must have shape ({boxes.size(0)},), got {tuple(scores.shape)}")
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    boxes = boxes.float()
    order = torch.argsort(scores, descending=True, stable=True)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    suppressed = torch.zeros(boxes.size(0), dtype=torch.bool, device=boxes.device)
    keep: list[int] = []
    for index in order.tolist():
        if suppressed[index]:
            continue
        keep.append(index)
        width = (torch.minimum(x2, x2[index]) - torch.maximum(x1, x1[index])).clamp(min=0)
        height = (torch.minimum(y2, y2[index]) - torch.maximum(y1, y1[index])).clamp(min=0)
        intersection = width * height
        iou = intersection / (areas + areas[index] - intersection).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def _qnms_reference(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Quantised NMS fallback: dequantise and run :func:`nms_reference`."""
    if dets.is_quantized:
        dets = dets.dequantize()
    if scores.is_quantized:
        scores = scores.dequantize()
    return nms_reference(dets, scores, iou_threshold)


def _register_fallbacks() -> None:
    """Define ``torchvision::nms`` and ``torchvision::qnms`` with pure-PyTorch kernels."""
    global _fallback_library
    import torch

    library = torch.library.Library("torchvision", "DEF")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.impl("nms", nms_reference, "CompositeExplicitAutograd")
    library.impl("qnms", _qnms_reference, "CompositeExplicitAutograd")
    _fallback_library = library


def ensure_torchvision_ops() -> _Status:
    """Make sure ``torchvision::nms`` exists before torchvision is imported.

    Idempotent: the first call decides, later calls return the same answer.

    Returns:
        ``"extension"`` when torchvision's C extension provides the operators (nothing is
        changed), ``"fallback"`` when the pure-PyTorch kernels were registered, ``"absent"`` when
        torchvision is not installed.
    """
    global _status
    if _status is not None:
        return _status
    _remove_hook()  # find_spec below would otherwise re-enter through the hook
    if importlib.util.find_spec("torchvision") is None:
        _status = "absent"
    elif _load_extension():
        _status = "extension"
    else:
        _register_fallbacks()
        _status = "fallback"
    return _status


def torchvision_ops_status() -> _Status | None:
    """Return what :func:`ensure_torchvision_ops` decided, or None before it ran."""
    return _status


class _TorchvisionImportHook(importlib.abc.MetaPathFinder):
    """Runs :func:`ensure_torchvision_ops` just before torchvision is first imported."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """Never finds anything itself; on ``torchvision`` it prepares the operators first."""
        if fullname == "torchvision":
            _remove_hook()
            ensure_torchvision_ops()
        return None


_hook = _TorchvisionImportHook()


def _remove_hook() -> None:
    if _hook in sys.meta_path:
        sys.meta_path.remove(_hook)


def install_import_hook() -> None:
    """Prepare torchvision's operators lazily, at its first import.

    If torchvision is already imported, nothing is left to do (it either loaded or failed).
    """
    if "torchvision" in sys.modules or _hook in sys.meta_path:
        return
    sys.meta_path.insert(0, _hook)
