"""Tests of the regression contrastive loss against loop-based references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from eospec.losses import (
    RegressionContrastiveLoss,
    positive_pairs,
    rank_n_contrast_loss,
    regression_contrastive_loss,
)


def _python_rows(z1, labels, z2):
    """Embeddings and labels as lists of Python floats, the augmented views appended with their labels."""
    rows = [list(map(float, row)) for row in z1]
    ys = [list(map(float, row)) if labels.ndim == 2 else [float(row)] for row in labels]
    if z2 is not None:
        rows += [list(map(float, row)) for row in z2]
        ys += ys
    return rows, ys


def _reference(z1, labels, z2, radius, temperature, form):
    """Loop over pairs with Python floats: Dhaini et al. (2024) Eq. 7-8 and the BCE form."""
    rows, ys = _python_rows(z1, labels, z2)
    m = len(rows)

    def cosine(a, b):
        dot = sum(u * v for u, v in zip(a, b, strict=True))
        return dot / (math.sqrt(sum(u * u for u in a)) * math.sqrt(sum(v * v for v in b)))

    s = [[cosine(rows[i], rows[j]) / temperature for j in range(m)] for i in range(m)]

    def positive(i, j):
        distance = math.sqrt(sum((u - v) ** 2 for u, v in zip(ys[i], ys[j], strict=True)))
        return i != j and distance <= radius

    if form == "infonce":
        total, count = 0.0, 0
        for i in range(m):
            denominator = sum(math.exp(s[i][k]) for k in range(m) if k != i)
            for j in range(m):
                if positive(i, j):
                    total += -math.log(math.exp(s[i][j]) / denominator)
                    count += 1
        return total / count if count else 0.0
    total, count = 0.0, 0
    for i in range(m):
        for j in range(i + 1, m):
            p = 1.0 / (1.0 + math.exp(-s[i][j]))
            t = 1.0 if positive(i, j) else 0.0
            total += -(t * math.log(p) + (1.0 - t) * math.log(1.0 - p))
            count += 1
    return total / count


@pytest.mark.parametrize("form", ["infonce", "bce"])
@pytest.mark.parametrize("radius", [0.0, 0.15, 0.4, 10.0])
@pytest.mark.parametrize("two_views", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_loop_reference(form, radius, two_views, seed):
    generator = torch.Generator().manual_seed(seed)
    n, d = 7, 5
    z1 = torch.randn(n, d, generator=generator, dtype=torch.float64)
    z2 = torch.randn(n, d, generator=generator, dtype=torch.float64) if two_views else None
    labels = torch.rand(n, 3, generator=generator, dtype=torch.float64)
    temperature = 0.3 + 0.4 * seed
    expected = _reference(z1, labels, z2, radius, temperature, form)
    value = regression_contrastive_loss(z1, labels, z2, radius=radius, temperature=temperature, form=form)
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_some_anchors_without_positives_are_skipped_not_nan():
    # Labels 0, 0.05, 1 and 3 (1-D): with r = 0.1 only (0, 1) and (1, 0) are positive; anchors 2 and 3 have none.
    labels = torch.tensor([0.0, 0.05, 1.0, 3.0], dtype=torch.float64)
    z = torch.randn(4, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64, requires_grad=True)
    mask = positive_pairs(labels, 0.1)
    assert mask.sum(dim=1).tolist() == [1, 1, 0, 0]
    value = regression_contrastive_loss(z, labels, radius=0.1, temperature=0.5)
    assert value.item() == pytest.approx(_reference(z.detach(), labels, None, 0.1, 0.5, "infonce"), rel=1e-10)
    value.backward()
    assert torch.isfinite(z.grad).all()


def test_no_positive_at_all_gives_zero_and_zero_gradient():
    labels = torch.arange(5, dtype=torch.float32)  # distances >= 1
    z = torch.randn(5, 4, requires_grad=True)
    value = regression_contrastive_loss(z, labels, radius=0.5, temperature=0.1)
    assert value.item() == 0.0
    value.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_two_views_with_zero_radius_is_simclr_nt_xent():
    # Distinct labels and r = 0: the only positives are the (sample, augmented view) pairs, i.e. SimCLR.
    generator = torch.Generator().manual_seed(5)
    n = 6
    z1, z2 = torch.randn(n, 8, generator=generator), torch.randn(n, 8, generator=generator)
    labels = torch.rand(n, 2, generator=generator)
    tau = 0.2
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    expected = F.cross_entropy(logits, targets)
    value = regression_contrastive_loss(z1, labels, z2, radius=0.0, temperature=tau)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


def test_bce_form_relates_to_the_authors_full_matrix_mean():
    # The authors' code: BCEWithLogitsLoss (mean) on the full M x M matrix with the lower triangle and
    # the diagonal zeroed (logit 0, target 0). That is (M-1)/(2M) * ours + (M+1)/(2M) * log 2.
    generator = torch.Generator().manual_seed(9)
    n, tau, radius = 5, 0.7, 0.3
    x1, x2 = torch.randn(n, 4, generator=generator), torch.randn(n, 4, generator=generator)
    y = torch.rand(n, 2, generator=generator)
    features = F.normalize(torch.cat([x1, x2]), dim=1)
    similarities = torch.triu(features @ features.T / tau, diagonal=1)
    outputs = torch.cat([y, y])
    mask = torch.triu(torch.cdist(outputs, outputs) <= radius, diagonal=1)
    authors = torch.nn.BCEWithLogitsLoss()(similarities, mask.float())
    ours = regression_contrastive_loss(x1, y, x2, radius=radius, temperature=tau, form="bce")
    m = 2 * n
    assert authors.item() == pytest.approx(((m - 1) * ours.item() + (m + 1) * math.log(2.0)) / (2 * m), rel=1e-5)


@pytest.mark.parametrize("form", ["infonce", "bce"])
def test_invariant_to_embedding_scale(form):
    generator = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(8, 16, generator=generator), torch.randn(8, 16, generator=generator)
    y = torch.rand(8, 4, generator=generator)
    loss = RegressionContrastiveLoss(radius=0.4, temperature=0.5, form=form)
    base = loss(z1, y, z2)
    for scale in (1e-3, 7.0, 1e4):
        assert loss(scale * z1, y, scale * z2).item() == pytest.approx(base.item(), rel=1e-5)


@pytest.mark.parametrize("form", ["infonce", "bce"])
def test_gradient_is_finite_even_with_a_zero_embedding(form):
    z1 = torch.randn(6, 5)
    z1[2] = 0.0  # a dead ReLU output: cosine similarity is undefined, the loss must stay finite
    z1.requires_grad_(True)
    z2 = torch.randn(6, 5, requires_grad=True)
    value = regression_contrastive_loss(z1, torch.rand(6, 2), z2, radius=0.3, temperature=0.1, form=form)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()
    assert z2.grad.abs().sum() > 0


def test_loss_pulls_positive_pairs_together():
    # One gradient step on the embeddings raises the cosine similarity of a positive pair.
    y = torch.tensor([[0.0], [0.01], [5.0], [9.0]])
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(1), requires_grad=True)
    before = F.cosine_similarity(z[0], z[1], dim=0).item()
    regression_contrastive_loss(z, y, radius=0.1, temperature=0.5).backward()
    with torch.no_grad():
        z -= 0.1 * z.grad
    assert F.cosine_similarity(z[0], z[1], dim=0).item() > before


def test_positive_pairs_zero_radius_keeps_equal_labels_only():
    labels = torch.tensor([[0.1, 0.2], [0.1, 0.2], [0.1, 0.2000001]] * 20)  # 60 rows: cdist's mm path is used above 25
    mask = positive_pairs(labels, 0.0)
    assert not mask.diagonal().any()
    assert mask[0, 1] and mask[0, 3] and not mask[0, 2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"radius": 0.1, "form": "triplet"}, "form 'triplet' is unknown"),
        ({"radius": -0.1}, "radius -0.1 is invalid"),
        ({"radius": float("nan")}, "radius nan is invalid"),
        ({"radius": 0.1, "temperature": 0.0}, "temperature 0.0 is invalid"),
    ],
)
def test_invalid_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RegressionContrastiveLoss(**kwargs)
    with pytest.raises(ValueError, match=match):
        regression_contrastive_loss(torch.randn(3, 2), torch.rand(3), **kwargs)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"labels of shape \(4,\) do not match 3 embeddings"):
        regression_contrastive_loss(torch.randn(3, 2), torch.rand(4), radius=0.1)
    with pytest.raises(ValueError, match=r"augmented embeddings of shape \(2, 2\)"):
        regression_contrastive_loss(torch.randn(3, 2), torch.rand(3), torch.randn(2, 2), radius=0.1)
    with pytest.raises(ValueError, match=r"embeddings of shape \(3, 2, 2\) are not \(N, D\)"):
        regression_contrastive_loss(torch.randn(3, 2, 2), torch.rand(3), radius=0.1)


# ------------------------------------------------------------------------------------------------
# Rank-N-Contrast (Zha et al. 2023, Eq. 2-3)
# ------------------------------------------------------------------------------------------------


def _rnc_reference(z1, labels, z2, temperature):
    """Loop over anchors i, others j and the set S_ij = {k != i : d_ik >= d_ij}, in Python floats."""
    rows, ys = _python_rows(z1, labels, z2)
    m = len(rows)

    def similarity(i, k):
        return -math.sqrt(sum((u - v) ** 2 for u, v in zip(rows[i], rows[k], strict=True))) / temperature

    def label_distance(i, k):
        return sum(abs(u - v) for u, v in zip(ys[i], ys[k], strict=True))

    total = 0.0
    for i in range(m):
        for j in range(m):
            if j == i:
                continue
            farther = [k for k in range(m) if k != i and label_distance(i, k) >= label_distance(i, j)]
            denominator = sum(math.exp(similarity(i, k)) for k in farther)
            total += -math.log(math.exp(similarity(i, j)) / denominator)
    return total / (m * (m - 1))


@pytest.mark.parametrize("two_views", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rnc_matches_loop_reference(two_views, seed):
    generator = torch.Generator().manual_seed(seed)
    n = 6
    z1 = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    z2 = torch.randn(n, 4, generator=generator, dtype=torch.float64) if two_views else None
    labels = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    if seed == 2:
        labels[3] = labels[1]  # ties: k is in S_ij when d_ik == d_ij
    temperature = 0.5 + seed
    expected = _rnc_reference(z1, labels, z2, temperature)
    value = regression_contrastive_loss(z1, labels, z2, radius=0.0, temperature=temperature, form="rnc")
    assert value.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_rnc_chunks_give_the_same_loss(monkeypatch):
    import eospec.losses as losses

    generator = torch.Generator().manual_seed(4)
    z1, z2 = torch.randn(9, 3, generator=generator), torch.randn(9, 3, generator=generator)
    y = torch.rand(9, generator=generator)
    whole = losses.rank_n_contrast_loss(z1, y, z2)
    monkeypatch.setattr(losses, "_RNC_CHUNK_ELEMENTS", 17 * 17 * 2)  # 2 anchors per chunk out of 18
    assert losses.rank_n_contrast_loss(z1, y, z2).item() == pytest.approx(whole.item(), rel=1e-6)


def test_rnc_prefers_embeddings_ordered_like_the_labels():
    # 1-D labels; an embedding on a line in label order has a lower loss than the same points shuffled.
    labels = torch.linspace(0.0, 1.0, 12)
    ordered = torch.stack([labels * 4.0, torch.zeros(12)], dim=1)
    shuffled = ordered[torch.randperm(12, generator=torch.Generator().manual_seed(0))]
    assert rank_n_contrast_loss(ordered, labels).item() < rank_n_contrast_loss(shuffled, labels).item()


def test_rnc_gradient_is_finite_for_identical_views_and_temperature_is_checked():
    z = torch.randn(5, 3, requires_grad=True)
    value = rank_n_contrast_loss(z, torch.rand(5), z.detach().clone())  # views at distance 0 from their samples
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z.grad).all()
    with pytest.raises(ValueError, match="temperature -1.0 is invalid"):
        rank_n_contrast_loss(z, torch.rand(5), temperature=-1.0)
    assert rank_n_contrast_loss(z[:1], torch.rand(1)).item() == 0.0
