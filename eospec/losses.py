r"""Contrastive losses for regression: positives are samples whose labels lie in a ball of radius r.

Dhaini, Berar, Honeine and Van Exem (2024), "Contrastive learning for regression on hyperspectral
data", ICASSP 2024, pp. 5080-5084 (arXiv:2403.17014), Section 3, adapt SimCLR's contrastive loss
(Chen et al. 2020, "A simple framework for contrastive learning of visual representations", ICML,
Eq. 1, "NT-Xent") to regression. In a classification batch the positives of an anchor are its
augmented view (and, in the supervised variant, the samples of its class); for a regression target
there are no classes, so two samples form a *positive pair* when their labels are closer than a
radius :math:`r`:

.. math::

    \mathcal{P} = \{(i, j) : i \ne j,\ \lVert y_i - y_j \rVert_2 \le r\}.

With the augmented view of every sample added to the batch (2N embeddings, each view carrying its
sample's label), the pair (sample, its augmented view) has label distance 0 and is always positive.

The paper's two forms are implemented, both on the cosine similarity :math:`s_{ij} = z_i^\top z_j /
(\lVert z_i \rVert \lVert z_j \rVert)` scaled by a temperature :math:`\tau`:

``"infonce"`` (the paper's Eq. 7-8, SimCLR's NT-Xent with label-ball positives):

.. math::

    \ell_{ij} = -\log \frac{\exp(s_{ij}/\tau)}{\sum_{k \ne i} \exp(s_{ik}/\tau)}, \qquad
    L_{\mathrm{contrastive}} = \frac{1}{|\mathcal{P}|} \sum_{(i, j) \in \mathcal{P}} \ell_{ij}.

``"bce"`` (the form of the authors' public code, ``contrast_learn.ContrastiveLoss`` in
github.com/mohamaddhaini/contrastive-learning-hyperspectral): every unordered pair :math:`i < j` is
a binary classification of "positive or not" with logit :math:`s_{ij}/\tau`:

.. math::

    L_{\mathrm{contrastive}} = \frac{2}{M (M - 1)} \sum_{i < j}
    \mathrm{BCE}\big(\sigma(s_{ij}/\tau),\ \mathbb{1}[(i, j) \in \mathcal{P}]\big),

with :math:`M` the number of embeddings (2N with two views). The authors' code applies
``BCEWithLogitsLoss`` (mean) to the full :math:`M \times M` matrix whose lower triangle and diagonal
are set to logit 0 and target 0; its value is :math:`\frac{M-1}{2M} L + \frac{M+1}{2M} \log 2`,
the same minimiser and gradients scaled by :math:`(M-1)/(2M)`. We average over the distinct pairs
only, so the loss does not carry that constant.

``"rnc"`` (an extension, not in the paper: Rank-N-Contrast, Zha, Cao, Bhattacharjee et al. 2023,
"Rank-N-Contrast: Learning Continuous Representations for Regression", NeurIPS, Eq. 2-3) drops the
radius and ranks the samples by label distance instead. With the similarity
:math:`s_{ij} = -\lVert z_i - z_j \rVert_2` (their default) and the label distance
:math:`d_{ij} = \lVert y_i - y_j \rVert_1`, every other sample j of an anchor i is contrasted with
the samples at least as far from i in label space,
:math:`S_{ij} = \{k \ne i : d_{ik} \ge d_{ij}\}`:

.. math::

    L_{\mathrm{RnC}} = -\frac{1}{M (M - 1)} \sum_i \sum_{j \ne i}
    \log \frac{\exp(s_{ij}/\tau)}{\sum_{k \in S_{ij}} \exp(s_{ik}/\tau)},

so the embedding distances are pushed to follow the order of the label distances, which a radius
(all-or-nothing positives) does not ask. Its authors use :math:`\tau = 2`.

The total training loss is :math:`L = L_R + \alpha L_{\mathrm{contrastive}}` (the paper's Eq. 9-10,
:math:`L_R` the mean squared error of the regression head); see
:class:`eospec.trainers.ContrastiveRegressionTask`.

Anchors without any positive (possible with one view only, or an empty batch of positives)
contribute nothing to the ``"infonce"`` mean; if no pair at all is positive the loss is 0 (a zero
that stays attached to the graph, so ``backward`` works and gives zero gradients), never NaN.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LossForm",
    "LOSS_FORMS",
    "RegressionContrastiveLoss",
    "positive_pairs",
    "rank_n_contrast_loss",
    "regression_contrastive_loss",
]

LossForm = Literal["infonce", "bce", "rnc"]

#: The implemented forms of the regression contrastive loss.
LOSS_FORMS: tuple[str, ...] = ("infonce", "bce", "rnc")

#: Elements of one chunk of the Rank-N-Contrast loss, (anchors, M - 1, M - 1): 64 MiB of float32 working memory.
_RNC_CHUNK_ELEMENTS = 1 << 24


def _check_options(radius: float, temperature: float, form: str) -> None:
    if form not in LOSS_FORMS:
        raise ValueError(f"contrastive loss form {form!r} is unknown: use one of {', '.join(map(repr, LOSS_FORMS))}")
    if not radius >= 0.0:  # also rejects NaN
        raise ValueError(f"radius {radius!r} is invalid: use a label distance >= 0 (0 keeps only equal labels)")
    if not temperature > 0.0:
        raise ValueError(f"temperature {temperature!r} is invalid: use a value > 0, e.g. 0.1-1")


def _as_label_matrix(labels: Tensor, n: int) -> Tensor:
    if labels.ndim not in (1, 2) or labels.shape[0] != n:
        raise ValueError(
            f"labels of shape {tuple(labels.shape)} do not match {n} embeddings: "
            f"pass labels of shape ({n},) or ({n}, s)"
        )
    return labels[:, None] if labels.ndim == 1 else labels


def positive_pairs(labels: Tensor, radius: float) -> Tensor:
    """The positive-pair mask: pairs of distinct samples whose labels lie within ``radius``.

    Args:
        labels: float tensor of shape (M,) or (M, s), the regression targets (any unit; the radius
            is in the same unit).
        radius: the label-ball radius r (Euclidean distance between label vectors), >= 0.

    Returns:
        A bool tensor of shape (M, M), True where ``i != j`` and ``||y_i - y_j||_2 <= radius``.

    Raises:
        ValueError: If ``radius`` is negative or ``labels`` has more than 2 dimensions.
    """
    if not radius >= 0.0:
        raise ValueError(f"radius {radius!r} is invalid: use a label distance >= 0 (0 keeps only equal labels)")
    labels = _as_label_matrix(labels, labels.shape[0])
    if not labels.is_floating_point():
        labels = labels.float()
    # Exact differences (not the matrix-product shortcut), so equal labels are at distance 0 exactly.
    distance = torch.cdist(labels, labels, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return (distance <= radius) & ~eye


def _append_views(embeddings: Tensor, labels: Tensor, embeddings_augmented: Tensor | None) -> tuple[Tensor, Tensor]:
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings of shape {tuple(embeddings.shape)} are not (N, D): flatten them first")
    labels = _as_label_matrix(labels, embeddings.shape[0])
    if embeddings_augmented is None:
        return embeddings, labels
    if embeddings_augmented.shape != embeddings.shape:
        raise ValueError(
            f"augmented embeddings of shape {tuple(embeddings_augmented.shape)} differ from the embeddings' "
            f"{tuple(embeddings.shape)}: pass one augmented view per sample, in the same order"
        )
    return torch.cat([embeddings, embeddings_augmented], dim=0), torch.cat([labels, labels], dim=0)


def rank_n_contrast_loss(
    embeddings: Tensor,
    labels: Tensor,
    embeddings_augmented: Tensor | None = None,
    *,
    temperature: float = 2.0,
) -> Tensor:
    """The Rank-N-Contrast loss (Zha et al. 2023, NeurIPS, Eq. 2-3); see the module docstring.

    Similarity is the negative Euclidean distance between embeddings, label distance the L1
    distance between label vectors (the defaults of the RnC paper). Memory grows as M^3 for M
    embeddings; the anchors are processed in chunks of at most 2^24 elements (64 MiB of float32
    working memory), or of one anchor when M > 4097.

    Args:
        embeddings: float tensor of shape (N, D).
        labels: float tensor of shape (N,) or (N, s), the regression targets.
        embeddings_augmented: optional float tensor of shape (N, D), the augmented views of the same
            N samples, appended with the same labels.
        temperature: tau > 0 dividing the similarities (2 in the RnC paper).

    Returns:
        A scalar float tensor (the embeddings' dtype); 0 (attached to the graph) for fewer than two
        embeddings.

    Raises:
        ValueError: If ``temperature`` <= 0 or the shapes do not match.
    """
    if not temperature > 0.0:
        raise ValueError(f"temperature {temperature!r} is invalid: use a value > 0, e.g. 2 (the RnC paper)")
    embeddings, labels = _append_views(embeddings, labels, embeddings_augmented)
    m = embeddings.shape[0]
    if m < 2:
        return embeddings.sum() * 0.0
    labels = labels.to(embeddings.dtype)
    exact = "donot_use_mm_for_euclid_dist"  # exact differences: a sample and its view are at distance 0
    logits = -torch.cdist(embeddings, embeddings, p=2.0, compute_mode=exact) / temperature
    label_distance = torch.cdist(labels, labels, p=1.0)
    off_diagonal = ~torch.eye(m, dtype=torch.bool, device=embeddings.device)
    logits = logits[off_diagonal].view(m, m - 1)  # row i: the other M - 1 samples
    label_distance = label_distance[off_diagonal].view(m, m - 1)
    chunk = max(1, _RNC_CHUNK_ELEMENTS // ((m - 1) * (m - 1)))
    total = logits.new_zeros(())
    for start in range(0, m, chunk):
        rows = slice(start, start + chunk)
        # farther[i, j, k]: sample k is at least as far from anchor i in label space as sample j is
        farther = label_distance[rows, None, :] >= label_distance[rows, :, None]
        expanded = logits[rows, None, :].expand(-1, m - 1, -1)
        log_denominator = torch.logsumexp(expanded.masked_fill(~farther, float("-inf")), dim=2)
        total = total + (logits[rows] - log_denominator).sum()
    return -total / (m * (m - 1))


def regression_contrastive_loss(
    embeddings: Tensor,
    labels: Tensor,
    embeddings_augmented: Tensor | None = None,
    *,
    radius: float,
    temperature: float = 1.0,
    form: LossForm | str = "infonce",
) -> Tensor:
    """The regression contrastive loss of Dhaini et al. (2024), Eq. 7-8 (``"infonce"``), the BCE form or RnC.

    See the module docstring for the equations.

    Args:
        embeddings: float tensor of shape (N, D): the feature-extractor outputs of a batch.
        labels: float tensor of shape (N,) or (N, s): the regression targets of the batch.
        embeddings_augmented: optional float tensor of shape (N, D): the embeddings of the
            augmented views of the same N samples (same order). They are appended to the batch with
            the same labels, so each sample and its view form a positive pair.
        radius: label-ball radius r (Euclidean, in the label unit) defining positive pairs, >= 0;
            unused by ``"rnc"``, which ranks by label distance instead.
        temperature: tau, > 0; the similarities are divided by it.
        form: ``"infonce"`` (the paper's NT-Xent form), ``"bce"`` (the authors' code) or ``"rnc"``
            (Rank-N-Contrast, :func:`rank_n_contrast_loss`).

    Returns:
        A scalar float tensor (the embeddings' dtype), 0 when there is no positive pair
        (``"infonce"``) or fewer than two embeddings.

    Raises:
        ValueError: If ``form`` is unknown, ``radius`` < 0, ``temperature`` <= 0, or the shapes
            do not match.
    """
    _check_options(radius, temperature, form)
    if form == "rnc":
        return rank_n_contrast_loss(embeddings, labels, embeddings_augmented, temperature=temperature)
    embeddings, labels = _append_views(embeddings, labels, embeddings_augmented)
    m = embeddings.shape[0]
    if m < 2:
        return embeddings.sum() * 0.0
    z = F.normalize(embeddings, dim=1)
    logits = z @ z.T / temperature  # (M, M) cosine similarity / tau
    positive = positive_pairs(labels.to(embeddings.dtype), radius)
    if form == "bce":
        upper = torch.triu(torch.ones(m, m, dtype=torch.bool, device=z.device), diagonal=1)
        return F.binary_cross_entropy_with_logits(logits[upper], positive[upper].to(logits.dtype))
    eye = torch.eye(m, dtype=torch.bool, device=z.device)
    # log of the softmax over k != i; the diagonal is excluded from the denominator and never selected.
    log_denominator = torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
    log_probability = logits - log_denominator
    n_positive = positive.sum()
    if n_positive == 0:
        return logits.sum() * 0.0
    return -(log_probability.masked_fill(~positive, 0.0).sum() / n_positive)


class RegressionContrastiveLoss(nn.Module):
    """Module form of :func:`regression_contrastive_loss` (Dhaini et al. 2024, Eq. 7-8).

    Args:
        radius: label-ball radius r defining positive pairs (Euclidean distance between labels, in
            the label unit), >= 0.
        temperature: tau > 0 dividing the similarities.
        form: ``"infonce"`` (the paper), ``"bce"`` (the authors' public code) or ``"rnc"``
            (Rank-N-Contrast, Zha et al. 2023; ``radius`` is then unused).

    Raises:
        ValueError: If ``form`` is unknown, ``radius`` < 0 or ``temperature`` <= 0.

    Example:
        >>> loss = RegressionContrastiveLoss(radius=0.05, temperature=0.5)
        >>> z, z_aug, y = torch.randn(8, 32), torch.randn(8, 32), torch.rand(8, 4)
        >>> loss(z, y, z_aug).shape
        torch.Size([])
    """

    def __init__(self, radius: float, temperature: float = 1.0, form: LossForm | str = "infonce") -> None:
        super().__init__()
        _check_options(radius, temperature, form)
        self.radius = float(radius)
        self.temperature = float(temperature)
        self.form = form

    def forward(self, embeddings: Tensor, labels: Tensor, embeddings_augmented: Tensor | None = None) -> Tensor:
        """Compute the loss.

        Args:
            embeddings: float tensor (N, D).
            labels: float tensor (N,) or (N, s).
            embeddings_augmented: optional float tensor (N, D), the augmented views.

        Returns:
            A scalar tensor.
        """
        return regression_contrastive_loss(
            embeddings,
            labels,
            embeddings_augmented,
            radius=self.radius,
            temperature=self.temperature,
            form=self.form,
        )

    def extra_repr(self) -> str:
        """The options, shown by ``repr``."""
        return f"radius={self.radius}, temperature={self.temperature}, form={self.form!r}"
