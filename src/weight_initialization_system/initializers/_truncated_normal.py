"""The sampler behind ``trunc_normal_``: the quantile of one uniform draw, exact in the far tail, fast as ``normal_``.

With :math:`\\alpha = (a - \\mu)/\\sigma` and :math:`\\beta = (b - \\mu)/\\sigma`, the interval is first mirrored so
that its midpoint is :math:`\\le 0` (the sign goes into the final scale): its deep end is then the lower tail,
where the probability :math:`p = \\Phi(x)` is small and keeps its relative precision. :math:`2\\Phi(x) - 1`, the
argument of ``erfinv``, sits next to -1 there and keeps none: it rounds to a handful of values beyond 7σ.

Every element is the quantile :math:`x = F^{-1}(u)` of the truncated CDF :math:`F` at a uniform draw ``u`` on a
grid of :math:`2^{-k}`, at the midpoint of its cell so that no draw lands on a bound (``k`` = 24 random bits for
float32, float16 and bfloat16, 53 for float64, as in ``Tensor.uniform_``). It is evaluated in the cheapest form
that loses nothing against that grid, nor against the output's precision where the grid is finer. With
:math:`Z = \\Phi(\\beta) - \\Phi(\\alpha)` the interval's mass and
:math:`v = \\operatorname{erf}(x/\\sqrt2) = 2\\Phi(x) - 1`:

1. ``erfinv`` in the working dtype (float32 for the 16-bit dtypes) when :math:`|v| \\le 2Z` on the whole interval:
   :math:`v` drawn uniform on :math:`(\\operatorname{erf}(\\alpha/\\sqrt2), \\operatorname{erf}(\\beta/\\sqrt2))` and
   :math:`x = \\sqrt2\\,\\operatorname{erf}^{-1}(v)`. ``v``'s rounding, :math:`2^{-k}|v|`, then stays within the grid,
   :math:`2^{-k}\\cdot 2Z`. This holds for every interval around 0 (``±kσ``, one-sided at 0): the fast path.
2. Otherwise, for float32 and the 16-bit dtypes, the float32 draw is carried to float64, and

   a. ``erfinv`` in float64 when every :math:`|x| \\le 5.3` or :math:`Z \\ge 10^{-7}`: float64's rounding of
      :math:`v` then moves :math:`x` by less than 1% of a float32 ulp, or of the grid;
   b. else (a far tail, :math:`x < -5`) :math:`p` drawn uniform on :math:`(\\Phi(\\alpha), \\Phi(\\beta))` and
      :math:`\\Phi^{-1}(p) = g(1/w) - \\sqrt2\\,w` with :math:`w = \\sqrt{-\\ln p}` and :math:`g` a degree-7
      polynomial (within 0.03 float32 ulp for :math:`p \\in [10^{-37}, 2.5 \\cdot 10^{-7}]`, i.e. down to 12.9σ;
      its error is smooth, so it moves no mass between neighbouring float32 values);
   c. ``torch.special.ndtri`` of that :math:`p` beyond 12.9σ.

3. For float64 when (1) does not hold, ``torch.special.ndtri`` of a 53-bit :math:`p`.
4. When :math:`\\Phi(\\beta)` underflows float64 (:math:`\\beta < -36`): exponential rejection (Robert 1995,
   "Simulation of truncated normal variables", Statistics and Computing 5), resampling only rejected elements.

On the CPU the tensor is drawn in chunks of 32K elements, each with all its passes while it is in the core's cache.
From 16 chunks on, chunk ``k`` is drawn from stream ``k mod 8``: eight generators seeded from one draw of the
caller's, so that the streams (torch's CPU generator is serial) run on ``torch.get_num_threads()`` threads, with the
same values whatever their number; smaller tensors (a keyed 64K block) take the caller's generator in order.
torch runs ops this small on the calling thread, so no thread waits on another, as it would after
each of the dozen parallel passes over a bigger chunk, which makes a shared machine many times slower.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

__all__ = ["sample_truncated_normal_"]

_SQRT2 = math.sqrt(2.0)
#: Elements per chunk on the CPU: torch's grain size, up to which an op runs on the calling thread alone.
_CHUNK = 1 << 15
#: From _POOL_MIN_CHUNKS chunks on, chunk k is drawn from stream k % _STREAMS and the streams run on a thread pool;
#: fewer chunks are drawn in order from the caller's generator.
_STREAMS = 8
_POOL_MIN_CHUNKS = 16
_MASK64 = (1 << 64) - 1
#: Up to this many elements (a keyed block) a tensor is one chunk: fewer calls per element.
_SMALL = 1 << 16
#: Path 2a needs every |x| <= _ERFINV_REACH or a mass of at least _ERFINV_MASS.
_ERFINV_REACH = 5.3
_ERFINV_MASS = 1e-7
#: Path 2b covers p in [_TAIL_P_MIN, _TAIL_P_MAX] (x from -12.9 to -5.0); float64's Φ ends near _NDTRI_P_MIN.
_TAIL_P_MIN = 1e-37
_TAIL_P_MAX = math.exp(-(3.9**2))
_NDTRI_P_MIN = 1e-300
#: g(t) = Φ⁻¹(p) + √2·w with w = sqrt(-ln p) and t = 1/w in [1/9.4, 1/3.9]: coefficients, constant term first.
#: From scripts/fit_trunc_normal_tail.py (minimax in float32 ulps of Φ⁻¹(p); 0.03 ulp evaluated in float64).
_TAIL_G = (
    0.016955128679372156, 3.176027862518288, -12.372708719206129, 61.047259378501636, -233.24133463426452,
    593.039446161175, -882.2322560721767, 578.8369120456671,
)

#: ``fill(out, scratch, generator)`` draws one contiguous chunk ``out``, with scratch buffers of the same length.
Fill = Callable[[torch.Tensor, Sequence[torch.Tensor], torch.Generator | None], None]


def _phi(x: float) -> float:
    """Standard normal CDF, with full relative precision in the lower tail."""
    return 0.5 * math.erfc(-x / _SQRT2)


@dataclass(frozen=True)
class _Interval:
    """One call's interval, standardized and mirrored so that ``alpha + beta <= 0``: x = mean + scale·z."""

    alpha: float
    beta: float
    mean: float
    scale: float  # ±std: the sign undoes the mirroring
    a: float
    b: float
    device: torch.device

    @property
    def p_lo(self) -> float:
        return _phi(self.alpha)

    @property
    def mass(self) -> float:
        return _phi(self.beta) - _phi(self.alpha)

    @property
    def v_lo(self) -> float:
        return math.erf(self.alpha / _SQRT2)

    @property
    def v_hi(self) -> float:
        return math.erf(self.beta / _SQRT2)

    def constant(self, value: float | list[float], dtype: torch.dtype = torch.float64) -> torch.Tensor:
        return torch.tensor(value, dtype=dtype, device=self.device)


class _Polynomial:
    """``sum(c[i] * t**i)`` by Horner's rule: one fused pass per degree, coefficients made 0-d tensors once."""

    def __init__(self, coefficients: Sequence[float], interval: _Interval) -> None:
        self.lead = coefficients[-1]
        self.rest = [interval.constant(c) for c in coefficients[:-1]]

    def __call__(self, t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        torch.add(self.rest[-1], t, alpha=self.lead, out=out)
        for c in self.rest[-2::-1]:
            torch.addcmul(c, out, t, out=out)
        return out


def _by_erfinv(s: _Interval, work: torch.dtype) -> Fill:
    """Path 1: ``v`` uniform in the working dtype (the output's, or float32 for 16-bit ones), ``√2·erfinv(v)``."""
    bits = 53 if work == torch.float64 else 24
    v_lo, v_hi = s.v_lo, s.v_hi
    half = (v_hi - v_lo) * 2.0 ** -(bits + 1)
    v_max = 1.0 - 2.0**-bits  # erfinv(±1) is infinite: a one-sided interval stays a grid step inside
    clamp = v_lo + half < -v_max or v_hi - half > v_max
    mean = s.constant(s.mean, work)

    def fill(out: torch.Tensor, scratch: Sequence[torch.Tensor], generator: torch.Generator | None) -> None:
        v = scratch[0] if scratch else out
        v.uniform_(v_lo + half, v_hi + half, generator=generator)
        if clamp:
            v.clamp_(-v_max, v_max)
        torch.add(mean, v.erfinv_(), alpha=_SQRT2 * s.scale, out=v).clamp_(s.a, s.b)
        if scratch:
            out.copy_(v)

    return fill


def _float64_from_float32_draw(
    s: _Interval, lo: float, width: float
) -> Callable[[torch.Tensor, torch.Tensor, torch.Generator | None], None]:
    """``into = lo + width·(u + 2^-25)`` in float64 for a float32 draw ``u`` in [0, 1) (24 bits, exact in float64)."""
    start = s.constant(lo + width * 2.0**-25)

    def draw(into: torch.Tensor, u: torch.Tensor, generator: torch.Generator | None) -> None:
        u.uniform_(0.0, 1.0, generator=generator)
        torch.add(start, into.copy_(u), alpha=width, out=into)

    return draw


def _by_erfinv_float64(s: _Interval) -> Fill:
    """Path 2a: ``v = erf(x/√2)`` from a float32 draw, ``√2·erfinv(v)`` in float64. Scratch: v, [u]."""
    draw = _float64_from_float32_draw(s, s.v_lo, s.v_hi - s.v_lo)
    mean = s.constant(s.mean)

    def fill(out: torch.Tensor, scratch: Sequence[torch.Tensor], generator: torch.Generator | None) -> None:
        v = scratch[0]
        draw(v, scratch[1] if len(scratch) > 1 else out, generator)
        torch.add(mean, v.erfinv_(), alpha=_SQRT2 * s.scale, out=out).clamp_(s.a, s.b)

    return fill


def _by_tail_polynomial(s: _Interval) -> Fill:
    """Path 2b: ``p`` from a float32 draw, ``g(t) - √2·w`` in float64 with ``w = sqrt(-ln p)`` and ``t = w/w² = 1/w``
    (``rsqrt`` is not vectorized); mean and scale folded into g's coefficients and the last pass. Scratch: w², w,
    g, [u]."""
    draw = _float64_from_float32_draw(s, s.p_lo, s.mass)
    g = _Polynomial([s.mean + s.scale * _TAIL_G[0], *(s.scale * c for c in _TAIL_G[1:])], s)

    def fill(out: torch.Tensor, scratch: Sequence[torch.Tensor], generator: torch.Generator | None) -> None:
        t, w, y = scratch[0], scratch[1], scratch[2]
        draw(t, scratch[3] if len(scratch) > 3 else out, generator)
        torch.sqrt(t.log_().neg_(), out=w)
        torch.div(w, t, out=t)
        torch.add(g(t, y), w, alpha=-_SQRT2 * s.scale, out=out).clamp_(s.a, s.b)

    return fill


def _by_ndtri(s: _Interval, float64_draw: bool) -> Fill:
    """Paths 2c and 3: ``ndtri(p)`` in float64, ``p`` from a 53-bit float64 draw (float64 output, in place) or
    from a float32 one (scratch: p, [u])."""
    mean = s.constant(s.mean)
    p_lo, mass = s.p_lo, s.mass
    draw = _float64_from_float32_draw(s, p_lo, mass)

    def fill(out: torch.Tensor, scratch: Sequence[torch.Tensor], generator: torch.Generator | None) -> None:
        if float64_draw:
            p = out.uniform_(p_lo + mass * 2.0**-54, p_lo + mass * (1.0 + 2.0**-54), generator=generator)
        else:
            p = scratch[0]
            draw(p, scratch[1] if len(scratch) > 1 else out, generator)
        torch.add(mean, torch.special.ndtri(p, out=p), alpha=s.scale, out=out).clamp_(s.a, s.b)

    return fill


def _upper_tail_(out: torch.Tensor, lo: float, hi: float, generator: torch.Generator | None) -> None:
    """Exact float64 draws from N(0,1) restricted to ``[lo, hi]``, ``lo`` far out (> 30) (Robert 1995).

    Proposal: ``lo`` plus an exponential of rate λ = (lo + sqrt(lo² + 4))/2 truncated to the interval (drawn by its
    inverse CDF), accepted with probability exp(-(x - λ)²/2), above 99.9% this far out. Only the rejected elements
    are drawn again.
    """
    lam = (lo + math.sqrt(lo * lo + 4.0)) / 2.0
    mass = -math.expm1(-lam * (hi - lo))  # the truncated exponential's share of the untruncated one
    flat = out.view(-1)
    pending = torch.arange(flat.numel(), device=out.device)
    while pending.numel():
        n = pending.numel()
        x = torch.empty(n, dtype=torch.float64, device=out.device).uniform_(0.0, mass, generator=generator)
        x.neg_().log1p_().div_(-lam).add_(lo)
        u = torch.empty(n, dtype=torch.float64, device=out.device).uniform_(0.0, 1.0, generator=generator)
        ok = u <= torch.exp(-0.5 * (x - lam) ** 2)
        flat[pending[ok]] = x[ok].clamp_(lo, hi)
        pending = pending[~ok]


def _mix(x: int) -> int:
    """SplitMix64's finalizer, to 63 bits: decorrelates the seeds of neighbouring streams."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) >> 1


def _in_streams_(
    tensor: torch.Tensor, scratch: Sequence[torch.dtype], fill: Fill, generator: torch.Generator | None
) -> None:
    """Run ``fill(out, buffers, stream)`` over contiguous chunks ``out`` of ``tensor`` (of a staging copy if it is
    not contiguous), with scratch ``buffers`` of the given dtypes, the chunk's length.

    On the CPU a large tensor's chunk ``k`` is drawn from stream ``k mod _STREAMS`` (see the module docstring);
    elsewhere, and for small tensors, the chunks are drawn in order from ``generator``.
    """
    n = tensor.numel()
    target = tensor if tensor.is_contiguous() else torch.empty(tensor.shape, dtype=tensor.dtype, device=tensor.device)
    flat = target.view(-1)
    if tensor.device.type != "cpu":
        fill(flat, [torch.empty(n, dtype=dtype, device=tensor.device) for dtype in scratch], generator)
    else:
        # views made once: every Python call holds the GIL the workers share
        pieces = torch.split(flat, _CHUNK if n > _SMALL else n)

        def draw(chunks: Sequence[torch.Tensor], stream: torch.Generator | None) -> None:
            with torch.no_grad():  # grad mode is per thread: a parameter's chunks are written in place
                buffers = [torch.empty(len(pieces[0]), dtype=dtype) for dtype in scratch]
                for out in chunks:
                    short = out.numel() < len(pieces[0]) and bool(buffers)
                    fill(out, [b[: out.numel()] for b in buffers] if short else buffers, stream)

        if len(pieces) < _POOL_MIN_CHUNKS:  # small (a keyed 64K block): the caller's generator, in order
            draw(pieces, generator)
        else:
            base = int(torch.randint(0, 1 << 62, (), generator=generator))

            def stream(index: int) -> None:
                own = torch.Generator()
                own.manual_seed(_mix(base * _STREAMS + index))
                draw(pieces[index::_STREAMS], own)

            workers = min(torch.get_num_threads(), _STREAMS)
            if workers > 1:
                with ThreadPoolExecutor(workers, thread_name_prefix="trunc_normal") as pool:
                    list(pool.map(stream, range(_STREAMS)))
            else:
                for index in range(_STREAMS):
                    stream(index)
    if target is not tensor:
        tensor.copy_(target)


def sample_truncated_normal_(
    tensor: torch.Tensor, mean: float, std: float, a: float, b: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Fill a real floating-point ``tensor`` with exact draws from N(mean, std²) truncated to ``[a, b]``.

    The arguments are assumed valid (``std > 0``, ``a < b``, ``mean`` finite); the module docstring gives the
    method.
    """
    alpha, beta, scale = (a - mean) / std, (b - mean) / std, std
    if alpha + beta > 0:  # mirror: the deep end of the interval goes to the lower side
        alpha, beta, scale = -beta, -alpha, -std
    s = _Interval(alpha, beta, mean, scale, a, b, tensor.device)
    double = tensor.dtype == torch.float64
    work = torch.float64 if double else torch.float32
    mass = s.mass

    if max(-s.v_lo, s.v_hi) <= 2.0 * mass * (1.0 + 1e-9):  # 1
        _in_streams_(tensor, [] if tensor.dtype == work else [work], _by_erfinv(s, work), generator)
        return tensor
    if mass == 0.0 or s.p_lo + mass * 2.0**-54 < _NDTRI_P_MIN:  # 4
        result = torch.empty(tensor.shape, dtype=torch.float64, device=tensor.device)
        _upper_tail_(result, -beta, -alpha, generator)
        tensor.copy_(result.mul_(-scale).add_(mean).clamp_(a, b))
        return tensor
    if double:  # 3
        _in_streams_(tensor, [], _by_ndtri(s, float64_draw=True), generator)
        return tensor
    u = [] if tensor.dtype == torch.float32 else [torch.float32]  # the float32 draw goes to the output if it can
    if alpha >= -_ERFINV_REACH or mass >= _ERFINV_MASS:  # 2a
        _in_streams_(tensor, [torch.float64, *u], _by_erfinv_float64(s), generator)
    elif s.p_lo + mass * 2.0**-25 >= _TAIL_P_MIN and s.p_lo + mass <= _TAIL_P_MAX:  # 2b
        _in_streams_(tensor, [torch.float64] * 3 + u, _by_tail_polynomial(s), generator)
    else:  # 2c
        _in_streams_(tensor, [torch.float64, *u], _by_ndtri(s, float64_draw=False), generator)
    return tensor
