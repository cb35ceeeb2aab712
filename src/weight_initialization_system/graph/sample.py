"""Call a model on a sample of any form, and build a sample when none is given.

One convention for every feature: a tensor is the single positional argument, a tuple or list holds the
positional arguments, a dict holds keyword arguments (``model(**sample)``, as Hugging Face models take them).

Without a sample one is built from what the model declares:

- Hugging Face models (a ``config`` and a ``main_input_name``): ``input_ids`` of length 8 for text (plus
  ``decoder_input_ids`` for encoder–decoders, both for dual encoders such as CLIP), ``pixel_values`` at the
  config's image size and channels, Whisper-style ``input_features`` of ``num_mel_bins`` × the encoder's
  ``2·max_source_positions`` frames, ``input_values`` of raw audio;
- other models from their first weight layer (in registration order): ``in_features`` of a linear layer,
  ``in_channels`` of a convolution (at the first spatial size the model accepts, found on the meta device),
  token ids below ``num_embeddings`` of an embedding, ``input_size`` of a recurrent layer, ``embed_dim`` of attention.

When no sample can be built, :func:`build_sample` says why instead of guessing.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import WeightInitError

__all__ = ["build_sample", "call_model", "sample_device"]

_BATCH, _SEQ = 2, 8


def _on(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; on the meta device a stand-in of its shape (no copy is made)."""
    return torch.empty_like(tensor, device="meta") if device.type == "meta" else tensor.to(device)


def call_model(model: nn.Module, sample: Any) -> Any:
    """``model(sample)``, ``model(*sample)`` or ``model(**sample)`` for a tensor, a tuple/list or a dict."""
    if isinstance(sample, dict):
        if not all(isinstance(k, str) for k in sample):
            raise WeightInitError("Argument `sample` as a dict must map keyword names (str) to values. "
                                  f"Received keys: {list(sample)[:5]!r}")
        return model(**sample)
    if isinstance(sample, (tuple, list)):
        return model(*sample)
    return model(sample)


def sample_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without either)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _first(value: Any) -> int:
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def _hf_sample(model: nn.Module, config: Any, device: torch.device) -> dict[str, Any] | None:
    main = getattr(model, "main_input_name", None)
    g = torch.Generator().manual_seed(0)
    text_cfg = getattr(config, "text_config", None) or config
    vision_cfg = getattr(config, "vision_config", None) or config
    vocab = getattr(text_cfg, "vocab_size", None)

    def ids() -> torch.Tensor:
        return _on(torch.randint(0, min(int(vocab or 2), 1000), (_BATCH, _SEQ), generator=g), device)

    def pixels() -> torch.Tensor:
        size = getattr(vision_cfg, "image_size", 32)
        channels = getattr(vision_cfg, "num_channels", 3)
        h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        return _on(torch.randn(_BATCH, int(channels), h, w, generator=g), device)

    sample: dict[str, Any] = {}
    if main == "input_ids":
        sample["input_ids"] = ids()
        if getattr(config, "vision_config", None) is not None:
            sample["pixel_values"] = pixels()
    elif main == "pixel_values":
        sample["pixel_values"] = pixels()
    elif main == "input_features":
        frames = 2 * int(getattr(config, "max_source_positions", 1500))
        sample["input_features"] = _on(torch.randn(_BATCH, int(config.num_mel_bins), frames, generator=g), device)
    elif main == "input_values":
        length = 4000
        sample["input_values"] = _on(torch.randn(_BATCH, length, generator=g), device)
    else:
        return None
    if getattr(config, "is_encoder_decoder", False) and vocab is not None:
        start = getattr(config, "decoder_start_token_id", None)
        dec = ids()
        if start is not None:
            dec[:, 0] = int(start)
        sample["decoder_input_ids"] = dec
    return sample


#: Spatial sizes tried for a convolutional model, first the common ones, then every size up to 64.
_SPATIAL = (16, 32, 64, 28, 224, 8, *range(1, 65))


def _fit_spatial(model: nn.Module, channels: int, dims: int) -> int:
    """The first size in :data:`_SPATIAL` the model accepts, tried on the meta device (no compute, no memory);
    16 when none fits or the model cannot run on meta."""
    state = {n: torch.empty_like(t, device="meta") for n, t in (*model.named_parameters(), *model.named_buffers())}
    for size in dict.fromkeys(_SPATIAL):
        x = torch.empty(_BATCH, channels, *(size,) * dims, device="meta")
        try:
            with torch.no_grad():
                torch.func.functional_call(model, state, (x,), strict=False)
        except Exception:  # this size does not fit the model: try the next
            continue
        return int(size)
    return 16


def _plain_sample(model: nn.Module, device: torch.device) -> Any | None:
    g = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            return _on(torch.randn(4, module.in_features, generator=g), device)
        if isinstance(module, nn.Bilinear):
            return None
        if isinstance(module, nn.modules.conv._ConvNd):
            dims = len(module.kernel_size)
            size = _fit_spatial(model, module.in_channels, dims)
            return _on(torch.randn(_BATCH, module.in_channels, *(size,) * dims, generator=g), device)
        if isinstance(module, nn.Embedding | nn.EmbeddingBag):
            return _on(torch.randint(0, module.num_embeddings, (_BATCH, _SEQ), generator=g), device)
        if isinstance(module, nn.RNNBase):
            shape = (_BATCH, _SEQ) if module.batch_first else (_SEQ, _BATCH)
            return _on(torch.randn(*shape, module.input_size, generator=g), device)
        if isinstance(module, nn.MultiheadAttention):
            shape = (_BATCH, _SEQ) if module.batch_first else (_SEQ, _BATCH)
            x = _on(torch.randn(*shape, module.embed_dim, generator=g), device)
            return (x, x, x) if module is model else x
    return None


def build_sample(model: nn.Module, device: torch.device | None = None) -> tuple[Any | None, str]:
    """``(sample, how)``: a small input batch for ``model`` and how it was made, or ``(None, why not)``."""
    device = sample_device(model) if device is None else device
    config = getattr(model, "config", None)
    if config is not None and hasattr(model, "main_input_name"):
        hf = _hf_sample(model, config, device)
        if hf is not None:
            return hf, f"built from the model's config ({', '.join(hf)})"
        return None, f"no sample can be built for main input {getattr(model, 'main_input_name', None)!r}"
    plain = _plain_sample(model, device)
    if plain is not None:
        shape = tuple(plain[0].shape if isinstance(plain, tuple) else plain.shape)
        return plain, f"built from the first weight layer (shape {shape})"
    return None, "no sample can be built: the first weight layer does not say what the input is"
