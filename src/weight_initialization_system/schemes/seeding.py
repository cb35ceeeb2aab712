"""Keyed seeding: element ``i`` of a parameter depends only on (seed, the parameter's qualified name, ``i``).

The flattened (row-major) tensor is cut into fixed blocks of :data:`BLOCK_NUMEL` elements. Block ``b`` is
drawn, whole, from its own ``torch.Generator`` seeded with BLAKE2b(seed, name, b), with torch's own samplers.
Hence

- adding, removing or reordering other layers never changes a parameter's values (the name is the key);
- any part of a tensor (a flat range, a ``Shard(0)`` row block, a ``Shard(1)`` column block, a box of a
  DTensor on a multi-dimensional mesh) is produced by drawing only the blocks it intersects, so every rank
  of a sharded model generates its own shard, and the gathered tensor is bitwise the single-process one
  whatever the world size, the placements or the order of the shards;
- independent blocks are drawn on several threads (torch's CPU generator is serial), and a 64K-element block
  stays in the L2 cache between the uniform and the Box-Muller passes of ``normal_``.

The guarantee is bitwise on one device type (CPU generators are Mersenne Twisters, CUDA ones Philox). It
holds for the *elementwise* initializers, whose every element has the same distribution (see
:data:`ELEMENTWISE_INITIALIZERS`). Initializers with structure across elements (orthogonal, sparse,
delta-orthogonal, eye, dirac, user callables) are drawn whole from one generator keyed by (seed, name) and
the needed part is sliced out: a shard of an orthogonal matrix costs the whole matrix (one QR per rank).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch

from ..errors import WeightInitError
from ..initializers._common import is_dtensor

__all__ = [
    "BLOCK_NUMEL",
    "ELEMENTWISE_INITIALIZERS",
    "Fill",
    "Job",
    "Region",
    "block_generator",
    "block_seed",
    "draw_seed",
    "keyed_generator",
    "keyed_jobs",
    "keyed_seed",
    "local_region",
]

_SEED_BITS = 63
#: Elements per keyed block of the flattened tensor. Fixed forever: changing it changes every value.
BLOCK_NUMEL = 1 << 16
#: A box that is not one flat range (a column shard) is produced through a temporary buffer spanning its
#: first to last element; the box is cut along dim 0 so that such a span stays below this many elements.
_SPAN_NUMEL = 1 << 22
#: Initializers whose elements are i.i.d. given their arguments and fans, so that any block can be drawn
#: on its own with the same distribution. Constants are included (no generator needed).
ELEMENTWISE_INITIALIZERS = frozenset({
    "uniform", "normal", "trunc_normal", "constant", "zeros", "ones",
    "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
    "lecun_uniform", "lecun_normal", "variance_scaling",
})

Fill = Callable[[torch.Tensor, torch.Generator], object]
Job = Callable[[], object]


def _to_seed(digest: bytes) -> int:
    return int.from_bytes(digest, "little") >> (64 - _SEED_BITS)


def keyed_seed(seed: int, key: str) -> int:
    """A 63-bit seed from BLAKE2b(seed, key): stable across Python processes (unlike ``hash``)."""
    return _to_seed(hashlib.blake2b(f"{int(seed)}\x00{key}".encode(), digest_size=8).digest())


def keyed_generator(seed: int, key: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with :func:`keyed_seed` (whole-tensor initializers)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(keyed_seed(seed, key))
    return generator


def _block_hasher(seed: int, key: str) -> hashlib.blake2b:
    # Domain-separated from keyed_seed by the trailing "\x00#", so block 0 is not the whole-tensor stream.
    return hashlib.blake2b(f"{int(seed)}\x00{key}\x00#".encode(), digest_size=8)


def block_seed(seed: int, key: str, block: int) -> int:
    """The 63-bit seed of block ``block`` of the tensor keyed ``key``: BLAKE2b(seed, key, block)."""
    hasher = _block_hasher(seed, key)
    hasher.update(int(block).to_bytes(8, "little"))
    return _to_seed(hasher.digest())


def block_generator(seed: int, key: str, block: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh generator on ``device`` seeded with :func:`block_seed`."""
    generator = torch.Generator(device=device)
    generator.manual_seed(block_seed(seed, key, block))
    return generator


def draw_seed() -> int:
    """Draw a base seed from torch's global generator, so that ``torch.manual_seed`` governs unseeded calls."""
    return int(torch.randint(0, 2**_SEED_BITS - 1, (1,)).item())


@dataclass(frozen=True)
class Region:
    """The box of a full tensor that one process holds: ``full[offset[d] : offset[d] + size[d]]`` per dim.

    Attributes:
        shape: the full (global) shape.
        offset: where the box starts in every dimension.
        size: the box's extent in every dimension (the local shape).
    """

    shape: tuple[int, ...]
    offset: tuple[int, ...]
    size: tuple[int, ...]

    @classmethod
    def whole(cls, shape: torch.Size | tuple[int, ...]) -> Region:
        """The region covering a whole tensor of ``shape``."""
        return cls(tuple(shape), (0,) * len(shape), tuple(shape))

    @property
    def is_whole(self) -> bool:
        return self.size == self.shape

    @property
    def numel(self) -> int:
        return math.prod(self.size)

    def index(self) -> tuple[slice, ...]:
        """The slices that cut this box out of the full tensor."""
        return tuple(slice(o, o + s) for o, s in zip(self.offset, self.size, strict=True))

    def flat_range(self) -> tuple[int, int] | None:
        """``(start, stop)`` in the flattened full tensor if the box is one contiguous range, else ``None``.

        That is the case when every dimension after the first one the box does not reduce to a single index
        is complete: a row block (``Shard(0)``), a single row, or the whole tensor.
        """
        dims = len(self.shape)
        first = next((d for d in range(dims) if self.size[d] != 1), dims)
        if any(self.size[d] != self.shape[d] for d in range(first + 1, dims)):
            return None
        start = _flat_index(self.offset, self.shape)
        return start, start + self.numel


def _strides(shape: tuple[int, ...]) -> list[int]:
    strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    return strides


def _flat_index(index: tuple[int, ...], shape: tuple[int, ...]) -> int:
    return sum(i * s for i, s in zip(index, _strides(shape), strict=True))


def local_region(tensor: torch.Tensor) -> Region | None:
    """The region of the full tensor that ``tensor`` holds on this process.

    A plain tensor holds all of itself. A DTensor (FSDP2 ``fully_shard``, ``distribute_tensor``) with
    ``Shard``/``Replicate`` placements on any mesh holds a box given by
    ``compute_local_shape_and_global_offset``; ``None`` is returned for placements whose local part is not a
    box (``_StridedShard`` from FSDP2 over tensor parallelism): the caller then draws the full tensor and lets
    ``distribute_tensor`` cut it locally.

    Raises:
        WeightInitError: for a ``Partial`` placement (a parameter cannot be a pending reduction).
    """
    if not is_dtensor(tensor):  # never imports torch.distributed.tensor (and sympy) for a plain model
        return Region.whole(tuple(tensor.shape))
    from torch.distributed.tensor import DTensor, Partial, Replicate, Shard

    tensor = cast(DTensor, tensor)
    placements = tensor.placements
    if any(isinstance(p, Partial) for p in placements):
        raise WeightInitError(f"A DTensor with placements {placements} is a pending reduction, not a value. "
                              "Initialize parameters with Shard or Replicate placements.")
    if any(type(p) not in (Shard, Replicate) for p in placements):
        return None
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    size, offset = compute_local_shape_and_global_offset(tensor.shape, tensor.device_mesh, placements)
    return Region(tuple(tensor.shape), tuple(offset), tuple(size))


def _needed_blocks(region: Region, start: int, stop: int) -> torch.Tensor | None:
    """Which blocks between flat ``start`` and ``stop`` intersect a box whose rows are contiguous runs.

    With the full tensor viewed as ``(shape[0], rest)`` the box is a set of runs, one per row, when its part
    of each row is one contiguous range (always for 2-D tensors). Returns a boolean mask over the blocks of
    ``[start, stop)``, or ``None`` when the box is more scattered (every block of the span is then drawn).
    """
    tail = Region(region.shape[1:], region.offset[1:], region.size[1:])
    within = tail.flat_range()
    if within is None:
        return None
    row = math.prod(region.shape[1:])
    rows = torch.arange(region.offset[0], region.offset[0] + region.size[0], dtype=torch.int64)
    first_block = start // BLOCK_NUMEL
    lo = (rows * row + within[0]) // BLOCK_NUMEL - first_block
    hi = (rows * row + within[1] - 1) // BLOCK_NUMEL - first_block
    count = (stop - 1) // BLOCK_NUMEL - first_block + 1
    marks = torch.zeros(count + 1, dtype=torch.int64)
    marks.index_add_(0, lo, torch.ones_like(lo))
    marks.index_add_(0, hi + 1, -torch.ones_like(hi))
    return marks.cumsum(0)[:count] > 0


def _range_jobs(
    dest: torch.Tensor, start: int, total: int, seed: int, key: str, fill: Fill,
    needed: torch.Tensor | None = None,
) -> list[Job]:
    """Jobs filling the 1-D contiguous ``dest`` with flat elements ``[start, start + len(dest))`` of the stream."""
    stop = start + dest.numel()
    first = start // BLOCK_NUMEL
    hasher = _block_hasher(seed, key)
    jobs: list[Job] = []
    for block in range(first, (stop - 1) // BLOCK_NUMEL + 1):
        if needed is not None and not bool(needed[block - first]):
            continue
        lo, hi = block * BLOCK_NUMEL, min(total, (block + 1) * BLOCK_NUMEL)
        block_hasher = hasher.copy()
        block_hasher.update(block.to_bytes(8, "little"))
        jobs.append(_block_job(dest, start, stop, lo, hi, _to_seed(block_hasher.digest()), fill))
    return jobs


def _block_job(dest: torch.Tensor, start: int, stop: int, lo: int, hi: int, seed: int, fill: Fill) -> Job:
    def run() -> None:
        generator = torch.Generator(device=dest.device)
        generator.manual_seed(seed)
        if start <= lo and hi <= stop:
            # A contiguous view of the destination draws exactly what a fresh buffer of that size would.
            fill(dest[lo - start:hi - start], generator)
        else:
            scratch = torch.empty(hi - lo, dtype=dest.dtype, device=dest.device)
            fill(scratch, generator)
            a, b = max(lo, start), min(hi, stop)
            dest[a - start:b - start].copy_(scratch[a - lo:b - lo])

    return run


def keyed_jobs(out: torch.Tensor, region: Region, seed: int, key: str, fill: Fill) -> list[Job]:
    """Independent jobs that together fill ``out``, the ``region`` box of a tensor, with the keyed stream.

    ``fill(block, generator)`` must draw the block's values in place from ``generator`` (an elementwise
    initializer). The jobs write disjoint parts of ``out`` and may run on any threads, in any order.

    - A box that is one flat range (the whole tensor, a row block) is drawn block by block straight into
      ``out``; only the two edge blocks go through a scratch buffer.
    - Any other box (a column block) is cut along dim 0 into chunks; each chunk draws the blocks it
      intersects into a temporary span from its first to its last element, then copies the box out of it.
      For a ``(rows, cols)`` matrix with ``cols`` below :data:`BLOCK_NUMEL`, every block of the rows meets a
      column block, so a column shard costs as much drawing as its full rows.

    Raises:
        WeightInitError: when ``out`` is not contiguous or its shape is not the region's size.
    """
    if tuple(out.shape) != region.size or not out.is_contiguous():
        raise WeightInitError(f"keyed_jobs needs a contiguous output of shape {region.size}. "
                              f"Received: shape={tuple(out.shape)}, contiguous={out.is_contiguous()}")
    total = math.prod(region.shape)
    out = out.detach()  # the same storage, outside autograd: jobs run on threads with their own grad mode
    if region.numel == 0:
        return []
    flat = region.flat_range()
    if flat is not None:
        return _range_jobs(out.view(-1), flat[0], total, seed, key, fill)
    row = math.prod(region.shape[1:])
    rows_per_chunk = max(1, _SPAN_NUMEL // max(1, row))
    jobs: list[Job] = []
    for first in range(0, region.size[0], rows_per_chunk):
        count = min(rows_per_chunk, region.size[0] - first)
        chunk = Region(region.shape, (region.offset[0] + first, *region.offset[1:]), (count, *region.size[1:]))
        jobs.append(_span_job(out[first:first + count], chunk, total, seed, key, fill))
    return jobs


def _span_job(out: torch.Tensor, chunk: Region, total: int, seed: int, key: str, fill: Fill) -> Job:
    def run() -> None:
        start = _flat_index(chunk.offset, chunk.shape)
        last = tuple(o + s - 1 for o, s in zip(chunk.offset, chunk.size, strict=True))
        stop = _flat_index(last, chunk.shape) + 1
        span = torch.empty(stop - start, dtype=out.dtype, device=out.device)
        for job in _range_jobs(span, start, total, seed, key, fill, _needed_blocks(chunk, start, stop)):
            job()
        # Element (j_0, ..., j_k) of the box sits at start + Σ j_d · stride_d of the span.
        out.copy_(span.as_strided(chunk.size, _strides(chunk.shape), 0))

    return run
