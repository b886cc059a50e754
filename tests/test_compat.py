"""eospec._compat: torchvision imports with and without its C extension."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import torch

from eospec._compat import nms_reference


def brute_force_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Independent greedy NMS with explicit pairwise IoU."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            x1, y1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            x2, y2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            if inter / (area(boxes[i]) + area(boxes[j]) - inter) > threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def test_nms_reference_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    corners = rng.uniform(0, 50, (60, 2))
    boxes = np.hstack([corners, corners + rng.uniform(5, 20, (60, 2))]).astype(np.float32)
    scores = rng.uniform(0, 1, 60).astype(np.float32)
    for threshold in (0.1, 0.5, 0.9):
        kept = nms_reference(torch.from_numpy(boxes), torch.from_numpy(scores), threshold)
        assert kept.dtype == torch.int64
        assert kept.tolist() == brute_force_nms(boxes, scores, threshold)


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_eospec_does_not_import_torch_and_torchgeo_imports_after() -> None:
    out = run_python(
        """
        import sys
        import eospec
        print("torch" in sys.modules)
        import torchgeo.datasets, torch
        from eospec._compat import torchvision_ops_status
        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30.]])
        print(torchvision_ops_status(), torch.ops.torchvision.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist())
        """
    )
    first, second = out.splitlines()
    assert first == "False"
    status, kept = second.split(" ", 1)
    assert status in {"extension", "fallback"}
    assert kept == "[0, 2]"


def test_is_a_no_op_where_the_extension_provides_the_operators() -> None:
    """Simulate a machine where torchvision's C extension loaded: nms already defined."""
    out = run_python(
        """
        import torch
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl("nms", lambda d, s, t: torch.tensor([42]), "CompositeExplicitAutograd")
        from eospec import _compat
        print(_compat.ensure_torchvision_ops(), _compat._fallback_library is None,
              torch.ops.torchvision.nms(torch.zeros(1, 4), torch.zeros(1), 0.5).tolist())
        """
    )
    assert out == "extension True [42]"


def test_fallback_is_registered_only_when_missing() -> None:
    out = run_python(
        """
        import torch
        from eospec import _compat
        _compat._extension_paths = lambda: []  # no loadable extension, as with the CUDA wheel
        print(_compat.ensure_torchvision_ops(), _compat._fallback_library is not None)
        boxes = torch.tensor([[0, 0, 2, 2.], [0, 0, 2, 2.1]])
        print(torch.ops.torchvision.nms(boxes, torch.tensor([1., 2.]), 0.5).tolist())
        """
    )
    assert out.splitlines() == ["fallback True", "[1]"]
