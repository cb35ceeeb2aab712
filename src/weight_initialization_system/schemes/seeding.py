"""Name-keyed seeding: a parameter's random stream depends only on (seed, its qualified name).

Adding, removing or reordering other layers therefore never changes a parameter's values, and the same
seed gives bitwise-identical tensors run to run on the same device type.
"""

from __future__ import annotations

import hashlib

import torch

__all__ = ["draw_seed", "keyed_generator", "keyed_seed"]

_SEED_BITS = 63


def keyed_seed(seed: int, key: str) -> int:
    """A 63-bit seed from BLAKE2b(seed, key): stable across Python processes (unlike ``hash``)."""
    digest = hashlib.blake2b(f"{int(seed)}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> (64 - _SEED_BITS)


def keyed_generator(seed: int, key: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with :func:`keyed_seed`."""
    generator = torch.Generator(device=device)
    generator.manual_seed(keyed_seed(seed, key))
    return generator


def draw_seed() -> int:
    """Draw a base seed from torch's global generator, so that ``torch.manual_seed`` governs unseeded calls."""
    return int(torch.randint(0, 2**_SEED_BITS - 1, (1,)).item())
