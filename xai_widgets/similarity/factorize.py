"""Matrix-factorisation groups of activations, the "NMF companion" of the similarity overlays.

Fong, Mordvintsev, Vedaldi and Olah, "Interactive Similarity Overlays", VISxAI 2021, combine
the overlays with a non-negative matrix factorisation of a layer's activations: every cell of
every image is a row, every channel a column, and the k factors group the cells that the layer
represents alike (Olah et al., "The Building Blocks of Interpretability", Distill 2018, used the
same factorisation to split a layer into a few "neuron groups").

Everything here is plain torch on the input's device (CPU or CUDA), in float32:

* :func:`nmf` factorises a non-negative n x d matrix X ~ W H by HALS (Cichocki and Phan 2009)
  with several sweeps per product (Gillis and Glineur 2012) and extrapolation (Ang and Gillis
  2019), started from NNDSVD (Boutsidis and Gallopoulos 2008);
* :func:`activation_factors` factorises one layer (N x C x H x W) and returns the factor maps;
* :func:`dominant` is the strongest factor at each cell.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch

__all__ = ["NMFResult", "Factors", "nmf", "activation_factors", "dominant"]

_INITS = ("nndsvd", "random")
_NEGATIVES = ("split", "shift", "clip")
_TINY = 1e-30  # floor for the diagonal of a Gram matrix (a factor that is identically 0)
# Extrapolation (Ang and Gillis 2019): initial step, shrink on failure, growth of step and cap.
_BETA0, _ETA, _GAMMA, _GAMMA_MAX = 0.5, 1.5, 1.05, 1.01
_WINDOW = 10  # iterations over which the stopping rule measures progress
_MAX_SWEEPS_W, _MAX_SWEEPS_H = 5, 10  # caps on HALS sweeps per product (W: n-long rows)


@dataclass
class NMFResult:
    """The result of :func:`nmf`.

    ``W`` (n x k) and ``H`` (k x d), both >= 0 and float32 on X's device; ``error`` is the
    relative reconstruction error ||X - WH||_F / ||X||_F; ``iters`` the outer iterations run.

    Attributes
    ----------
    W : torch.Tensor
        n x k non-negative float32 factor on X's device.
    H : torch.Tensor
        k x d non-negative float32 factor on X's device.
    error : float
        Relative reconstruction error ||X - WH||_F / ||X||_F.
    iters : int
        Outer iterations run (0 when X is all zero).
    """

    W: torch.Tensor
    H: torch.Tensor
    error: float
    iters: int


@dataclass
class Factors:
    """The NMF of one layer (see :func:`activation_factors`).

    ``maps``: N x k x H x W, the strength of each factor at each cell (activation units, since
    each row of ``components`` has unit L2 norm); ``components``: k x C (k x 2C for
    ``negative="split"``: the first C columns are the positive parts, the last C the negative
    parts); ``error``: ||X - WH|| / ||X|| for the matrix actually factorised (so not comparable
    across ``negative`` choices: a shift adds an offset that is easy to fit); ``negative``: how
    negative activations were handled ("split", "shift", "clip", or "none" when the input had
    none and no choice was asked for). Factor 0 is the strongest.

    Attributes
    ----------
    maps : torch.Tensor
        N x k x H x W float32 factor strengths.
    components : torch.Tensor
        k x C (k x 2C for "split") float32 rows of unit L2 norm.
    error : float
        Relative reconstruction error of the matrix factorised.
    negative : str
        "split", "shift", "clip" or "none".
    """

    maps: torch.Tensor
    components: torch.Tensor
    error: float
    negative: str


# ----------------------------------------------------------------------------- checks


def _check_k(k, n: int, d: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"k must be an int, got {k!r}")
    if k < 1 or k > min(n, d):
        raise ValueError(f"k must be between 1 and min(n, d) = min({n}, {d}) = {min(n, d)}, got {k}")
    return k


def _check_finite(x: torch.Tensor, what: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{what} contains NaN or infinite values")


# ----------------------------------------------------------------------------- NMF


def _top_eigh(
    G: torch.Tensor, k: int, power: int = 10, oversample: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest eigenpairs of the symmetric PSD matrix G (float64), by subspace iteration
    with Rayleigh-Ritz (Halko, Martinsson and Tropp, "Finding structure with randomness",
    SIAM Review 53(2), 2011): much cheaper than a full eigh for k << len(G). The start is a
    fixed Gaussian matrix drawn on the CPU, so the result does not depend on any global seed."""
    m = G.shape[0]
    p = min(m, k + oversample)
    g = torch.Generator().manual_seed(0)
    Q = torch.linalg.qr(torch.randn(m, p, generator=g, dtype=torch.float64).to(G.device)).Q
    for _ in range(power if p < m else 0):  # p = m: Q spans everything already
        Q = torch.linalg.qr(G @ Q).Q
    vals, vecs = torch.linalg.eigh(Q.T @ G @ Q)  # ascending
    return vals.flip(0)[:k].clamp_min(0), (Q @ vecs).flip(1)[:, :k]


def _nndsvd(X: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """NNDSVD initialisation (Boutsidis and Gallopoulos, "SVD based initialization: a head start
    for nonnegative matrix factorization", Pattern Recognition 41(4), 2008), as k x n W^T and k x d H.

    The leading singular triplets come from the Gram matrix of the smaller side (one pass over
    X, float32 product, then float64), see :func:`_top_eigh`.
    """
    n, d = X.shape
    if n >= d:
        vals, V = _top_eigh((X.T @ X).double(), k)  # V: d x k
        s = vals.sqrt()
        U = (X @ V.to(X.dtype)).double() / s.clamp_min(1e-300)  # n x k
    else:
        vals, U = _top_eigh((X @ X.T).double(), k)  # U: n x k
        s = vals.sqrt()
        V = (U.T.to(X.dtype) @ X).T.double() / s.clamp_min(1e-300)  # d x k
    Wt = torch.zeros(k, n, dtype=torch.float64, device=X.device)
    H = torch.zeros(k, d, dtype=torch.float64, device=X.device)
    # The leading pair of a non-negative matrix is non-negative up to a global sign.
    Wt[0] = s[0].sqrt() * U[:, 0].abs()
    H[0] = s[0].sqrt() * V[:, 0].abs()
    for j in range(1, k):
        x, y = U[:, j], V[:, j]
        xp, xn, yp, yn = x.clamp_min(0), (-x).clamp_min(0), y.clamp_min(0), (-y).clamp_min(0)
        nxp, nxn, nyp, nyn = xp.norm(), xn.norm(), yp.norm(), yn.norm()
        mp, mn = nxp * nyp, nxn * nyn
        # Keep the sign pattern with the larger mass (a tensor comparison: no host sync).
        pos = mp >= mn
        u = torch.where(pos, xp / nxp.clamp_min(1e-300), xn / nxn.clamp_min(1e-300))
        v = torch.where(pos, yp / nyp.clamp_min(1e-300), yn / nyn.clamp_min(1e-300))
        scale = (s[j] * torch.where(pos, mp, mn)).sqrt()
        Wt[j] = scale * u
        H[j] = scale * v
    return Wt.float(), H.float()


def _random_init(X: torch.Tensor, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform [0, 1) factors scaled so that W H has the mean of X."""
    n, d = X.shape
    g = torch.Generator(device=X.device).manual_seed(seed)
    scale = math.sqrt(max(float(X.mean()), 1e-30) / k) * 2.0
    Wt = torch.rand(k, n, generator=g, device=X.device) * scale
    H = torch.rand(k, d, generator=g, device=X.device) * scale
    return Wt, H


def _hals_sweeps(F: torch.Tensor, P: torch.Tensor, G: torch.Tensor, sweeps: int) -> None:
    """HALS sweeps over the rows of one factor, in place.

    F (k x m) is W^T (m = n) or H (m = d); P = (other factor) . X on the matching side (k x m)
    and G the other factor's k x k Gram matrix. Row j's exact non-negative least-squares update
    with the other rows fixed is F_j <- max(0, F_j + (P_j - G_j F) / G_jj) (Cichocki and Phan
    2009). P and G cost O(kdm) and a sweep O(k^2 m), so several sweeps reuse them (Gillis and
    Glineur 2012). Each row update is one fused matrix-vector product and one clamp, with no
    host synchronisation; a row whose G_jj is 0 (the other factor's row j is 0) is left as is.
    """
    diag = G.diagonal()
    live = diag > _TINY
    scale = torch.where(live, diag, torch.ones_like(diag))[:, None]
    Ps = P / scale
    Gs = G / scale
    # F_j + (P_j - G_j F) / G_jj = Ps_j - Gs'_j F with Gs' = Gs minus its unit diagonal; a dead
    # row gets -1 there so that it keeps its value (its P_j and the rest of G_j are 0).
    Gs.diagonal().copy_(torch.where(live, 0.0, -1.0))
    Ft = F.T
    for _ in range(sweeps):
        for j in range(F.shape[0]):
            torch.clamp(torch.addmv(Ps[j], Ft, Gs[j], alpha=-1), min=0, out=F[j])


def nmf(
    X: torch.Tensor,
    k: int = 4,
    *,
    iters: int = 200,
    tol: float = 1e-4,
    seed: int = 0,
    init: str = "nndsvd",
) -> NMFResult:
    """Non-negative matrix factorisation X ~ W H minimising ||X - WH||_F, W, H >= 0.

    ``X``: n x d, non-negative, any real dtype, on the CPU or a CUDA device; computed in
    float32 there (the k x k and k x d bookkeeping in float64).

    Algorithm: HALS, the exact block-coordinate descent on the columns of W and rows of H
    (Cichocki and Phan, "Fast local algorithms for large scale nonnegative matrix and tensor
    factorizations", IEICE Trans. Fundamentals E92-A(3), 2009; also Gillis, "The why and how of
    nonnegative matrix factorization", 2014), accelerated as in Gillis and Glineur, "Accelerated
    multiplicative updates and hierarchical ALS algorithms for nonnegative matrix
    factorization", Neural Computation 24(4), 2012: the expensive products X H^T and W^T X
    (O(ndk), all matmuls) are reused for several cheap O(nk^2) sweeps, and with the adaptive
    extrapolation of Ang and Gillis, "Accelerating nonnegative matrix factorization algorithms
    using extrapolation", Neural Computation 31(2), 2019 (after each block update, step past it
    along the last change by beta, with beta grown on success and shrunk, plus a restart, when
    the error goes up). Each outer iteration reads X twice (one product per factor).

    Stops after ``iters`` iterations, or once the best relative error has improved by less
    than ``tol`` (a fraction of itself) over the last 10 iterations. The error is tracked from
    the k x d and k x k products, with no extra pass over X; the best iterate is returned.

    ``init``: "nndsvd" (Boutsidis and Gallopoulos 2008; deterministic, ``seed`` unused) or
    "random" (uniform, from ``seed`` on X's device). The same inputs and seed give the same
    result on the same device.

    Returns :class:`NMFResult` with the relative error ||X - WH||_F / ||X||_F.

    Parameters
    ----------
    X : torch.Tensor
        n x d non-negative real matrix, finite and not empty; not modified.
    k : int, default 4
        Number of factors, 1 to min(n, d).
    iters : int, default 200
        Maximum number of outer iterations (positive).
    tol : float, default 1e-4
        Relative improvement of the best error over 10 iterations below which it stops (>= 0).
    seed : int, default 0
        Seed of the random start (``init="random"`` only).
    init : {"nndsvd", "random"}, default "nndsvd"
        Starting point.

    Returns
    -------
    NMFResult
        ``W`` (n x k), ``H`` (k x d), the relative error and the iterations run; the zero
        factorisation (error 0, 0 iterations) when X is all zero.

    Raises
    ------
    ValueError
        If X is not a real, non-empty, finite, non-negative matrix, or ``k``, ``iters``,
        ``tol`` or ``init`` is invalid.
    """
    if not isinstance(X, torch.Tensor):
        raise ValueError(f"X must be a torch.Tensor, got {type(X).__name__}")
    if X.dim() != 2:
        raise ValueError(f"X must be a matrix (n x d), got shape {tuple(X.shape)}")
    if X.is_complex():
        raise ValueError(f"X must be real, got {X.dtype}")
    n, d = X.shape
    if n == 0 or d == 0:
        raise ValueError(f"X is empty: shape {tuple(X.shape)}")
    k = _check_k(k, n, d)
    if init not in _INITS:
        raise ValueError(f"init must be one of {_INITS}, got {init!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive int, got {iters!r}")
    if not (tol >= 0):
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    X = X.detach().float().contiguous()
    xx = float(torch.linalg.vector_norm(X)) ** 2  # NaN and inf propagate
    if not math.isfinite(xx):
        raise ValueError("X contains NaN or infinite values")
    if float(X.min()) < 0:
        raise ValueError("X must be non-negative (see activation_factors(negative=...) for signed data)")
    if xx == 0.0:  # X = 0: the zero factorisation is exact
        return NMFResult(X.new_zeros(n, k), X.new_zeros(k, d), 0.0, 0)
    with _one_thread_on_cpu(X.device):
        return _hals(X, k, xx, iters, tol, seed, init)


@contextmanager
def _one_thread_on_cpu(device: torch.device):
    """On the CPU, NMF runs on one torch thread. Between its few large products it makes many
    small vector updates, each a parallel region on several threads, and every region waits for
    its slowest thread: when another process holds a core (in a notebook, often the browser
    itself), two threads ran 2x slower than one (10x under heavier load). On an idle 2-core
    machine one thread is 1.4-1.6x slower than two; the robust choice wins. Torch's thread count
    is process-wide; it is restored."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _hals(X: torch.Tensor, k: int, xx: float, iters: int, tol: float, seed: int, init: str) -> NMFResult:
    """The iterations of :func:`nmf` on a validated, non-zero float32 X with ||X||^2 = xx."""
    n, d = X.shape
    Wt, H = _nndsvd(X, k) if init == "nndsvd" else _random_init(X, k, seed)

    # Sweeps per product: 1 + alpha * (product cost / sweep cost) with alpha = 0.5 (Gillis and
    # Glineur 2012), capped at 5 for W (sweeps over n-long rows; more barely help) and 10 for H.
    sweeps_W = max(1, min(_MAX_SWEEPS_W, 1 + int(0.5 * d / (k + 1))))
    sweeps_H = max(1, min(_MAX_SWEEPS_H, 1 + int(0.5 * n / (k + 1))))
    beta, beta_max = _BETA0, 1.0
    Wt_prev, H_prev, Hx = Wt.clone(), H.clone(), H
    best, best_Wt, best_H = math.inf, Wt, H
    history = []  # best error after each iteration
    prev = math.inf
    done = 0
    for it in range(1, iters + 1):
        # W step against the (extrapolated) H: P = H X^T (k x n), G = H H^T.
        # (X @ H^T is the fast layout for a row-major X; H @ X^T is several times slower.)
        _hals_sweeps(Wt, (X @ Hx.T).T.contiguous(), Hx @ Hx.T, sweeps_W)
        Wx = (Wt + beta * (Wt - Wt_prev)).clamp_min_(0)
        # H step against the extrapolated W: P = W^T X (k x d), G = W^T W.
        P = Wx @ X
        G = Wx @ Wx.T
        _hals_sweeps(H, P, G, sweeps_H)
        done = it
        # ||X - Wx H||^2 = ||X||^2 - 2 <W^T X, H> + <W^T W, H H^T>: from k x d and k x k
        # matrices, in float64, with no pass over X.
        Hd = H.double()
        err2 = xx - 2.0 * float((P.double() * Hd).sum()) + float((G.double() * (Hd @ Hd.T)).sum())
        err = math.sqrt(max(err2, 0.0) / xx)
        if err < best:
            best, best_Wt, best_H = err, Wx, H.clone()
        if err > prev:
            # Extrapolation overshot: restart from the plain iterate, smaller step (Ang and Gillis 2019).
            beta_max, beta = beta, beta / _ETA
            Hx = H.clone()
        else:
            Hx = (H + beta * (H - H_prev)).clamp_min_(0)
            beta, beta_max = min(beta_max, _GAMMA * beta), min(1.0, _GAMMA_MAX * beta_max)
        # Balance the scales (||W_j|| = ||H_j||; W H is unchanged): extrapolation otherwise lets
        # a factor drift to tiny W and huge H. The previous iterates get the same scaling.
        nw, nh = Wt.norm(dim=1), H.norm(dim=1)
        D = torch.where((nw > 0) & (nh > 0), (nh / nw.clamp_min(_TINY)).sqrt(), torch.ones_like(nw))[:, None]
        Wt.mul_(D)
        H.div_(D)
        Hx = Hx / D
        Wt_prev, H_prev = Wt.clone(), H.clone()
        prev = err
        history.append(best)
        # Stop once the best error has improved by less than tol (relative) over _WINDOW
        # iterations (the error of an extrapolated sequence is not monotone).
        if len(history) > _WINDOW and history[-1 - _WINDOW] - history[-1] <= tol * history[-1]:
            break

    W = best_Wt.T.contiguous()
    return NMFResult(W, best_H, _relative_error(X, W, best_H, xx), done)


def _relative_error(X: torch.Tensor, W: torch.Tensor, H: torch.Tensor, xx: float, rows: int = 8192) -> float:
    """||X - WH||_F / ||X||_F computed directly, in row blocks (bounded memory)."""
    total = 0.0
    for start in range(0, X.shape[0], rows):
        R = torch.addmm(X[start:start + rows], W[start:start + rows], H, alpha=-1)
        total += float(torch.linalg.vector_norm(R)) ** 2
    return math.sqrt(total / xx)


# ----------------------------------------------------------------------------- activations


def activation_factors(
    acts: torch.Tensor,
    k: int = 4,
    *,
    negative: str | None = None,
    iters: int = 200,
    tol: float = 1e-4,
    seed: int = 0,
    init: str = "nndsvd",
) -> Factors:
    """NMF of one layer's activations ``acts`` (N x C x H x W, all images of the batch).

    Every cell of every image is a row of X (N*H*W rows), every channel a column, so the
    factors are shared by all images and ``maps[i, j]`` shows where image i uses factor j.

    NMF needs X >= 0. Post-ReLU layers are non-negative already; for signed activations
    (pre-activation convolutions, batch-norm outputs, residual streams) ``negative`` chooses:

    * ``"split"`` (the default when ``acts`` has negatives): X = [relu(a), relu(-a)], 2C
      columns, so "channel c strongly negative" is a feature of its own and nothing is lost.
      Best for signed layers where both signs carry meaning; components are k x 2C.
    * ``"shift"``: X = a - min(a) (the global minimum, only when it is negative). Keeps the
      geometry (differences between cells) intact but every cell gets the offset, which tends
      to become a factor of its own; suits layers whose negatives are a small, roughly constant
      floor (e.g. a bias or batch-norm shift).
    * ``"clip"``: X = relu(a), dropping negatives: what the next layer sees when a ReLU
      follows, so it is the right view of a pre-ReLU layer; negative evidence is ignored.

    On non-negative input the three choices give X = a (``"split"`` with an all-zero second
    half); with ``negative=None`` the result then reports ``negative="none"``.

    Each row of ``components`` is scaled to unit L2 norm (the scale moved to ``maps``), and
    factors are ordered by total strength, ``maps[:, j].sum()``, descending. Other keywords go
    to :func:`nmf`.

    Parameters
    ----------
    acts : torch.Tensor
        N x C x H x W activations of one layer, finite and not empty; any real dtype.
    k : int, default 4
        Number of factors, 1 to min(N*H*W, number of columns of X).
    negative : {"split", "shift", "clip"} or None, default None
        How negative activations are handled; None: "split" when ``acts`` has negatives.
    iters, tol, seed, init
        Passed to :func:`nmf` (defaults 200, 1e-4, 0, "nndsvd").

    Returns
    -------
    Factors
        ``maps`` (N x k x H x W), ``components`` (k x C or k x 2C), the error and the
        ``negative`` handling used, all float32 on the device of ``acts``.

    Raises
    ------
    ValueError
        If ``acts`` is not a finite, non-empty 4-D tensor, or ``negative``, ``k`` or an
        :func:`nmf` keyword is invalid.
    """
    if not isinstance(acts, torch.Tensor):
        raise ValueError(f"acts must be a torch.Tensor, got {type(acts).__name__}")
    if acts.dim() != 4:
        raise ValueError(f"acts must be N x C x H x W (one layer, all images), got shape {tuple(acts.shape)}")
    if negative is not None and negative not in _NEGATIVES:
        raise ValueError(f"negative must be one of {_NEGATIVES} or None, got {negative!r}")
    N, C, Hh, Ww = acts.shape
    if acts.numel() == 0:
        raise ValueError(f"acts is empty: shape {tuple(acts.shape)}")
    a = acts.detach().float()
    _check_finite(a, "acts")
    X = a.permute(0, 2, 3, 1).reshape(-1, C)  # (N*H*W) x C, rows in image, row, col order
    has_neg = bool((X < 0).any())
    if negative is None:
        negative = "split" if has_neg else "none"
    _check_k(k, X.shape[0], 2 * C if negative == "split" else C)

    if negative == "split":
        X = torch.cat([X.clamp_min(0), (-X).clamp_min(0)], dim=1)
    elif negative == "shift":
        X = X - X.min().clamp_max(0)
    elif negative == "clip":
        X = X.clamp_min(0)
    res = nmf(X, k, iters=iters, tol=tol, seed=seed, init=init)

    norms = res.H.norm(dim=1)
    H = res.H / norms.clamp_min(1e-30)[:, None]
    W = res.W * norms[None, :]
    order = torch.argsort(W.sum(dim=0), descending=True, stable=True)
    W, H = W[:, order], H[order]
    maps = W.reshape(N, Hh, Ww, k).permute(0, 3, 1, 2).contiguous()
    return Factors(maps=maps, components=H, error=res.error, negative=negative)


def dominant(maps: torch.Tensor, *, blank: int | None = None) -> torch.Tensor:
    """The strongest factor at each cell: ``maps`` (N x k x H x W) -> N x H x W long tensor.

    Ties go to the lower index (so a cell where every factor is 0 gets factor 0); pass
    ``blank`` (e.g. -1) to label such empty cells with that value instead.

    Parameters
    ----------
    maps : torch.Tensor
        N x k x H x W factor strengths (e.g. ``Factors.maps``), k >= 1.
    blank : int or None, default None
        Label for cells where no factor is positive; None gives them the argmax (0 when all are 0).

    Returns
    -------
    torch.Tensor
        N x H x W int64 factor indices on the device of ``maps``.

    Raises
    ------
    ValueError
        If ``maps`` is not a 4-D tensor or has no factors.
    """
    if not isinstance(maps, torch.Tensor) or maps.dim() != 4:
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ValueError(f"maps must be N x k x H x W, got {shape}")
    if maps.shape[1] < 1:
        raise ValueError("maps has no factors (k = 0)")
    idx = maps.argmax(dim=1)
    if blank is not None:
        idx = torch.where((maps > 0).any(dim=1), idx, torch.full_like(idx, blank))
    return idx
