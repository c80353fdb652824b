"""Label-free measures of a representation: how many directions it uses, and how views of an image sit in it.

Every function takes embeddings as float tensors, shape (N, D), and returns a Python float. None needs
labels, so all of them can run on any dataset at the end of every epoch. ``alignment``, ``uniformity``,
``embedding_std``, ``mean_cosine`` and ``participation_ratio`` L2-normalize their input themselves (the
quantities are defined on the unit sphere, where served embeddings live); ``rankme`` uses the raw embeddings, as
in its paper.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

RANKME_EPS = 1e-7  # RankMe's small epsilon: keeps log p finite where a singular value is 0
CONSTANT_VARIANCE = 1e-12  # mean squared distance to the mean below which unit embeddings count as constant

# collapse_warning's thresholds; its docstring says why these values.
MIN_RANKME = 2.0
MIN_STD_TIMES_SQRT_DIM = 0.01
# Anisotropy and spread, measured after every epoch on 512 probe items (mean_cosine, participation_ratio of D):
#   healthy, trained: tiny_cnn on 32 px digits by SimCLR 0.948-0.956, 8.3-10 of 128 (epochs 1-10); BYOL, MoCo,
#     SimSiam, Barlow Twins, VICReg 0.935-0.974, 3.4-17.8 of 128 (epochs 1-3); SimCLR resnet18 0.956-0.962,
#     7-9.6 of 512; SimCLR on 64 px digits, tiny_cnn / resnet18, 0.977-0.986, 2.2-4.5; SimCSE on docstrings
#     0.07-0.71, 10-19 of 64; TSDAE 0.53-0.97, 3.3-15 of 64; SCARF, tabular DAE 0.43-0.54, 2.1-8.6 of 256.
#   random init: tiny_cnn on 32 px digits 0.980, 8.6 of 128; text 0.93-0.94; ResNets 0.992-0.998, 1.2-4.7 (flagged,
#     rightly: their embeddings are that alike; one epoch of SimCLR takes them to 0.96-0.985).
#   MLM (kNN below its own random init on docstrings, 0.23 vs 0.30): tiny 0.996-0.999 from its 2nd or 3rd epoch,
#     3.7-9.7 of 64; small 0.997-1.000 from its 1st, 12-25 of 256; tiny trained 16-30 epochs 0.968-0.98, 3.7.
# So a pooled ReLU network sits in the positive orthant, 0.93-0.99 cosine apart however well it trains: a bound
# like 0.6 would flag every healthy image encoder, and only one above the highest trained one seen (0.986) can
# serve. At 0.99 any two embeddings are closer than 8 degrees on average, and MLM's cone (0.996 and up) is caught;
# the long-trained tiny MLM at 0.97 is not, nor can it be from geometry alone (BYOL's first epoch sits at the same
# cosine and spread): there the labeled baseline comparison tells the truth. Likewise the participation ratio is
# bounded by the data (a 13-column table cannot spread over more than 13 directions, ResNets on digits use 2-10
# of 512), so no fraction of D separates; below 1.5 the variance about the mean lies along about one direction,
# which no trained encoder above showed (the lowest, 2.1).
MAX_MEAN_COSINE = 0.99
MIN_PARTICIPATION_RATIO = 1.5


def rankme(embeddings: torch.Tensor, eps: float = RANKME_EPS) -> float:
    """RankMe (Garrido et al., 2023, "RankMe: Assessing the Downstream Performance of Pretrained
    Self-Supervised Representations by Their Rank"): a smooth effective rank of (N, D) embeddings.

    With singular values s_k, p_k = s_k / ||s||_1 + eps and RankMe = exp(-sum_k p_k log p_k). It lies in
    [1, min(N, D)]: 1 for a rank-1 (or constant) embedding, min(N, D) when every direction carries as much.
    """
    singular = torch.linalg.svdvals(embeddings.detach().double())  # (min(N, D),)
    p = singular / singular.sum().clamp_min(torch.finfo(torch.float64).tiny) + eps
    return float(torch.exp(-(p * torch.log(p)).sum()))


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    """Alignment (Wang & Isola, 2020, "Understanding Contrastive Representation Learning through Alignment
    and Uniformity on the Hypersphere"): E ||f(x) - f(x')||^alpha over positive pairs.

    ``z1[i]`` and ``z2[i]``, both (N, D), embed two augmented views of item i. 0 when the views coincide;
    at most 2^alpha (antipodal). Lower is better, but 0 is also what a collapsed encoder scores.
    """
    z1, z2 = F.normalize(z1.detach().float(), dim=1), F.normalize(z2.detach().float(), dim=1)
    return float((z1 - z2).norm(dim=1).pow(alpha).mean())


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """Uniformity (Wang & Isola, 2020): log E_{i != j} exp(-t ||z_i - z_j||^2) for (N, D) embeddings.

    0 when every point coincides (total collapse); more negative is more evenly spread on the sphere (about
    -3.9 is the limit for t = 2 on a high-dimensional sphere). Computed with a log-sum-exp over the
    N(N-1)/2 distinct pairs, which have the same mean as all ordered pairs i != j.
    """
    z = F.normalize(z.detach().float(), dim=1)
    if z.shape[0] < 2:
        raise ValueError("uniformity needs at least 2 embeddings")
    squared = torch.pdist(z).pow(2)  # (N(N-1)/2,)
    return float(torch.logsumexp(-t * squared, dim=0) - math.log(squared.numel()))


def embedding_std(embeddings: torch.Tensor) -> float:
    """Mean over dimensions of the per-dimension standard deviation of L2-normalized (N, D) embeddings.

    The collapse monitor of SimSiam (Chen & He, 2021, section 4.1): 0 for a collapsed (constant) output,
    about 1/sqrt(D) for embeddings spread evenly over the unit sphere.
    """
    z = F.normalize(embeddings.detach().float(), dim=1)
    return float(z.std(dim=0, correction=0).mean())


def mean_cosine(embeddings: torch.Tensor) -> float:
    """Mean cosine similarity over the distinct pairs of (N, D) embeddings: their anisotropy (Ethayarajh, 2019,
    "How Contextual are Contextualized Word Representations?").

    1 when every embedding points the same way, about 0 for directions spread evenly (-1/(N-1) at least). With
    unit rows z_i, sum_{i != j} z_i . z_j = ||sum_i z_i||^2 - N, so this costs O(N D), not N^2.
    """
    z = F.normalize(embeddings.detach().double(), dim=1)  # (N, D)
    count = z.shape[0]
    if count < 2:
        raise ValueError("mean_cosine needs at least 2 embeddings")
    total = z.sum(dim=0).pow(2).sum() - z.pow(2).sum()  # the diagonal is 1 per non-zero row, 0 per zero row
    return float(total / (count * (count - 1)))


def participation_ratio(embeddings: torch.Tensor) -> float:
    """Effective number of dimensions of the covariance of the L2-normalized (N, D) embeddings: with its
    eigenvalues l_k, (sum_k l_k)^2 / sum_k l_k^2 (the participation ratio; Gao et al., 2017, "A theory of
    multineuronal dimensionality, dynamics and measurement").

    In [1, min(N - 1, D)]: 1 when the embeddings vary along one direction, D when every direction of the sphere
    carries as much variance. Unlike RankMe it is measured about the mean, so a large shared direction (a cone)
    does not count as used, and, squaring the eigenvalues, it is dominated by the few largest. 0 for a constant.
    """
    z = F.normalize(embeddings.detach().double(), dim=1)
    eigenvalues = torch.linalg.svdvals(z - z.mean(dim=0)).pow(2)  # (min(N, D),), the covariance's times N
    total = eigenvalues.sum()  # N times the mean squared distance to the mean: N at most, for unit rows
    if total <= z.shape[0] * CONSTANT_VARIANCE:
        return 0.0  # a constant up to rounding, whose noise would otherwise count as many directions
    return float(total.pow(2) / eigenvalues.pow(2).sum())


Check = Callable[[dict[str, float], int], str | None]


def _few_directions(metrics: dict[str, float], dim: int) -> str | None:
    rank = metrics.get("rankme")
    if rank is None or rank >= MIN_RANKME:
        return None
    return f"the embeddings vary along only about {rank:.2f} effective directions (RankMe)"


def _constant(metrics: dict[str, float], dim: int) -> str | None:
    std = metrics.get("embedding_std")
    if std is None or std * math.sqrt(dim) >= MIN_STD_TIMES_SQRT_DIM:
        return None
    return (
        f"the embeddings barely differ between inputs (per-dimension std {std:.2g}, "
        f"against about {1 / math.sqrt(dim):.2g} for evenly spread embeddings)"
    )


def _narrow_cone(metrics: dict[str, float], dim: int) -> str | None:
    cosine = metrics.get("mean_cosine")
    if cosine is None or cosine <= MAX_MEAN_COSINE:
        return None
    return f"the embeddings all point the same way (mean cosine {cosine:.3f} between two inputs)"


def _one_axis(metrics: dict[str, float], dim: int) -> str | None:
    ratio = metrics.get("participation_ratio")
    if ratio is None or ratio >= MIN_PARTICIPATION_RATIO:
        return None
    return f"the embeddings spread along only about {ratio:.1f} of {dim} directions (participation ratio)"


CHECKS: tuple[Check, ...] = (_few_directions, _constant, _narrow_cone, _one_axis)


def neighbour_agreement(x: torch.Tensor, y: torch.Tensor, k: int = 10) -> float:
    """How far two representations of the same N items agree on who is near whom: the mean over items of
    |N_k^x(i) & N_k^y(i)| / k, where N_k(i) are item i's ``k`` most cosine-similar other items.

    ``x`` (N, Dx) and ``y`` (N, Dy) may differ in width (a student and its teacher). 1 when every item has the
    same k neighbours in both, about k / (N - 1) for unrelated ones. O(N^2) memory: keep N in the thousands.
    """
    k = min(k, len(x) - 1)
    if k < 1:
        raise ValueError("neighbour agreement needs at least 2 items")
    neighbours = [_nearest_others(z, k) for z in (x, y)]  # 2 x (N, k)
    hits = (neighbours[0].unsqueeze(2) == neighbours[1].unsqueeze(1)).any(dim=2)  # (N, k)
    return float(hits.float().mean())


def _nearest_others(z: torch.Tensor, k: int) -> torch.Tensor:
    """(N, D) -> (N, k) indices of each row's k most cosine-similar other rows."""
    z = F.normalize(z.detach().float(), dim=1)
    similarity = z @ z.T  # (N, N)
    similarity.fill_diagonal_(-float("inf"))
    return similarity.topk(k, dim=1).indices


def collapse_warning(metrics: dict[str, float], dim: int) -> str | None:
    """A plain-language warning when ``metrics`` (from this module, for D = ``dim``) show a collapsed
    representation, else None. Any of these, when present, flags it:

    * ``rankme`` < 2: the embeddings vary along one direction at most (a constant or rank-1 embedding
      scores 1.0002; a rank-1 variation around a non-zero mean, a rank-2 matrix, at most 2).
    * ``embedding_std`` < 0.01 / sqrt(D): every embedding is the same unit vector up to a relative
      perturbation under about 1% (evenly spread unit vectors score 1/sqrt(D); SimSiam's collapsed runs
      score ~0). This catches a nearly constant output whose tiny noise still spreads over many directions
      and so lifts RankMe above 2.
    * ``mean_cosine`` > 0.99: the embeddings sit in a cone so narrow that cosine similarity barely tells two
      inputs apart (MLM's mean-pooled embeddings do this).
    * ``participation_ratio`` < 1.5: about the mean, the embeddings vary along a single direction.

    The last two bounds sit above and below everything healthy encoders were measured at; the comment at
    ``MAX_MEAN_COSINE`` gives the figures and why neither can be tighter. The first two are absolute, not
    fractions of min(N, D), because RankMe is computed, as in its paper, on
    uncentered embeddings, and a healthy randomly initialized ReLU network's embeddings share a large mean
    direction that dominates the spectrum. Measured on 512 items (rankme, embedding_std * sqrt(D)): random
    tiny_cnn / resnet18 / resnet50 on 32 px digits 16 / 7.3 / 8.2 and 0.12 / 0.071 / 0.059; on 64 px
    digits, the worst case seen, 3.8 / 2.4 / 2.3 and 0.062 / 0.042 / 0.031; on 96-224 px crops of photos
    4.9-8.6 and 0.19-0.28; a tiny_cnn trained by SimCLR on 32 px digits 23 and 0.22. Any fraction of
    min(N, D) large enough to matter would flag those random initializations; these bounds clear every one
    of them (the closest, random ResNets on 64 px digits, by 15% in RankMe and 3x in std) while flagging
    the degenerate cases. Alignment and uniformity are not used: a collapsed encoder
    scores a perfect alignment of 0 and a uniformity of 0, but so, nearly, does a very invariant one.
    """
    problems = [problem for check in CHECKS if (problem := check(metrics, dim))]
    if not problems:
        return None
    return (
        f"The representation looks collapsed: {'; and '.join(problems)}. Such an encoder cannot tell its inputs "
        "apart; try a lower learning rate, a larger batch, stronger augmentation or another method."
    )
