"""Resolve the MODEL argument: a built-in name, ``module:factory``, a zoo model name, or a checkpoint file.

- Built-ins (:data:`BUILTINS`): the reference models with a sample input each.
- ``package.module:factory`` or ``path/to/file.py:factory``: ``factory()`` is called (or the attribute is used
  when it already is a module).
- ``torchvision:NAME``, ``timm:NAME``, ``transformers:MODEL_TYPE`` (or a bare torchvision/timm name, when
  installed): built from code with random weights, never downloaded (``weights=None``, ``pretrained=False``,
  ``AutoConfig.for_model``; Hugging Face runs with ``HF_HUB_OFFLINE=1``). A Hugging Face model is built from a
  small version of its config unless ``--full-size`` (then on the meta device); ``--config-override`` sets config
  attributes (see :mod:`._hf`).
- A checkpoint: ``.safetensors``, or a torch file read with ``torch.load(weights_only=True)`` (never
  unpickling arbitrary objects). A state dict alone gets the data-free analysis; ``--weights FILE`` loads one into
  a model instead.

Samples: built-ins and the zoos declare their input; any other model gets the sample
:func:`weight_initialization_system.graph.build_sample` builds from its config or first weight layer, redrawn at
the requested batch size.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import models as zoo
from ..graph import build_sample
from ._common import CLIError, parse_shape
from ._hf import build_transformers, parse_overrides

__all__ = [
    "BUILTINS",
    "Builtin",
    "LoadedModel",
    "add_model_options",
    "load_model",
    "load_state_dict",
    "model_from_args",
    "sample_input_for",
]

Sample = Callable[[int, torch.Generator], Any]


@dataclass(frozen=True)
class Builtin:
    """A built-in model: how to build it, a sample batch, and a one-line description."""

    build: Callable[[], nn.Module]
    sample: Sample
    description: str


def _images(channels: int, size: int) -> Sample:
    return lambda batch, g: torch.randn(batch, channels, size, size, generator=g)


def _vectors(width: int) -> Sample:
    return lambda batch, g: torch.randn(batch, width, generator=g)


BUILTINS: dict[str, Builtin] = {
    "mlp": Builtin(lambda: zoo.mlp(784, [128, 64, 32, 16], 10, activation="relu"), _vectors(784),
                   "the notebook's 784-128-64-32-16-10 MLP with ReLU"),
    "tanh-mlp": Builtin(lambda: zoo.mlp(784, [128, 64, 32, 16], 10, activation="tanh"), _vectors(784),
                        "the notebook's 784-128-64-32-16-10 MLP with tanh"),
    "deep-relu-mlp": Builtin(lambda: zoo.deep_mlp(20, 256, "relu"), _vectors(256),
                             "a plain 20-layer, 256-wide ReLU MLP"),
    "deep-tanh-mlp": Builtin(lambda: zoo.deep_mlp(20, 256, "tanh"), _vectors(256),
                             "a plain 20-layer, 256-wide tanh MLP"),
    "cnn": Builtin(lambda: zoo.CustomCNNModel(input_channels=3, num_classes=10), _images(3, 32),
                   "CustomCNNModel: residual conv-BN-ReLU stages, 3x32x32 inputs"),
    "transformer": Builtin(lambda: zoo.CustomTransformerModel(vocab_size=1000, d_model=128),
                           lambda batch, g: torch.randint(0, 1000, (batch, 32), generator=g),
                           "CustomTransformerModel: 2 pre-LN blocks, d_model 128, 32 tokens"),
    "rnn": Builtin(lambda: zoo.CustomRNNModel(input_size=100, hidden_size=128, num_layers=2),
                   lambda batch, g: torch.randn(batch, 16, 100, generator=g),
                   "CustomRNNModel: 2-layer LSTM, 16 steps of 100 features"),
    "hybrid": Builtin(lambda: zoo.CNNTransformerHybrid(input_channels=3, d_model=128), _images(3, 32),
                      "CNNTransformerHybrid: conv stem, patch tokens, transformer encoder"),
}


@dataclass
class LoadedModel:
    """The resolved MODEL.

    Attributes:
        name: what the user typed.
        model: the module (for a bare state dict, a container holding the tensors under their names).
        sample: ``sample(batch, generator)`` for forward/backward analyses, ``None`` for data-free only.
        data_free_reason: why there is no sample (shown in the report).
        note: how the model was built, when that is worth saying (a Hugging Face config's sizes).
        full_size: built at full size on the meta device: structure only, no weights' values.
    """

    name: str
    model: nn.Module
    sample: Sample | None
    data_free_reason: str = ""
    note: str = ""
    full_size: bool = False


#: State-dict entries that are buffers, not parameters (BatchNorm statistics).
_BUFFER_NAMES = ("running_mean", "running_var", "num_batches_tracked")


class _Node(nn.Module):
    """A plain container so that a state dict's names become ``named_parameters()`` names."""


def _state_dict_module(state: Mapping[str, torch.Tensor]) -> nn.Module:
    root = _Node()
    for name, tensor in state.items():
        *path, leaf = name.split(".")
        node: nn.Module = root
        for part in path:
            child = node._modules.get(part)
            if child is None:
                child = _Node()
                node.add_module(part, child)
            node = child
        if tensor.is_floating_point() and leaf not in _BUFFER_NAMES:
            node.register_parameter(leaf, nn.Parameter(tensor, requires_grad=False))
        else:
            node.register_buffer(leaf, tensor)
    return root


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file, or a torch file with ``weights_only=True``; return a flat state dict."""
    if not path.is_file():
        raise CLIError(f"No such checkpoint file: {str(path)!r}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        raise CLIError(
            f"Could not read {str(path)!r} as a weights-only torch checkpoint: {str(error).splitlines()[0]}",
            "only tensors and plain containers are loaded (torch.load(weights_only=True)); save "
            "`model.state_dict()` (or use safetensors) rather than a pickled model",
        ) from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CLIError(f"{str(path)!r} does not hold a state dict (a mapping of names to tensors)",
                       "save `model.state_dict()` with torch.save or safetensors")
    return {str(k): v for k, v in data.items()}


def _redraw(t: torch.Tensor, batch: int, g: torch.Generator) -> torch.Tensor:
    """A tensor like ``t`` with ``batch`` rows: fresh N(0, 1) for floats (as ``build_sample`` draws them);
    integers (token ids) uniform over the template's range, except where every template row agrees (a start
    token, an attention mask), which is kept."""
    if t.dim() == 0 or t.numel() == 0:
        return t
    shape = (batch, *t.shape[1:])
    if t.is_floating_point():
        return torch.randn(shape, generator=g, dtype=t.dtype).to(t.device)
    first = t[:1].expand(shape)
    if t.dtype == torch.bool:
        return first.clone()
    lo, hi = int(t.min()), int(t.max())
    fresh = torch.randint(lo, hi + 1, shape, generator=g, dtype=t.dtype).to(t.device)
    return torch.where((t == t[:1]).all(dim=0), first, fresh)


def _redrawn(template: Any, batch: int, g: torch.Generator) -> Any:
    if isinstance(template, torch.Tensor):
        return _redraw(template, batch, g)
    if isinstance(template, dict):
        return {k: _redrawn(v, batch, g) for k, v in template.items()}
    if isinstance(template, list | tuple):
        return type(template)(_redrawn(v, batch, g) for v in template)
    return template


def sample_input_for(model: nn.Module, shape: tuple[int, ...] | None = None) -> Sample | None:
    """A sample batch for a model we know nothing about: N(0, 1) of ``shape`` (without batch), else what
    :func:`~weight_initialization_system.graph.build_sample` builds, redrawn per batch size and generator along
    its first dimension."""
    if shape is not None:
        return lambda batch, g: torch.randn(batch, *shape, generator=g)
    template, _ = build_sample(model)
    if template is None:
        return None
    return lambda batch, g: _redrawn(template, batch, g)


def _import_factory(spec: str) -> nn.Module:
    module_name, _, attr = spec.rpartition(":")
    try:
        if module_name.endswith(".py"):
            file = Path(module_name)
            if not file.is_file():
                raise CLIError(f"No such file: {module_name!r}")
            loader = importlib.util.spec_from_file_location(file.stem, file)
            if loader is None or loader.loader is None:
                raise CLIError(f"Cannot import {module_name!r}")
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            sys.path.insert(0, os.getcwd())
            try:
                module = importlib.import_module(module_name)
            finally:
                sys.path.remove(os.getcwd())
    except ImportError as error:
        raise CLIError(f"Cannot import {module_name!r}: {error}",
                       "MODEL as module:factory needs an importable module (run from its directory)") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise CLIError(f"Module {module_name!r} has no attribute {attr!r}")
    built = factory if isinstance(factory, nn.Module) else factory() if callable(factory) else None
    if not isinstance(built, nn.Module):
        raise CLIError(f"{spec!r} did not give a torch.nn.Module (got {type(built).__name__})",
                       "the factory must return an nn.Module when called without arguments")
    return built


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _zoo_model(package: str, name: str) -> tuple[nn.Module, Sample]:
    if not _installed(package):
        raise CLIError(f"{package} is not installed, so {package}:{name} cannot be built",
                       f"pip install {package}")
    if package == "torchvision":
        import torchvision

        if name not in torchvision.models.list_models():
            raise CLIError(f"Unknown torchvision model {name!r}", "see torchvision.models.list_models()")
        return torchvision.models.get_model(name, weights=None), _images(3, 224)
    import timm

    if name not in timm.list_models():
        raise CLIError(f"Unknown timm model {name!r}", "see timm.list_models()")
    model = timm.create_model(name, pretrained=False)
    size = getattr(model, "default_cfg", {}).get("input_size", (3, 224, 224))
    return model, lambda batch, g: torch.randn(batch, *size, generator=g)


#: Zoos built by name here (``transformers:TYPE`` is built from its config by :mod:`._hf`).
_ZOOS = ("torchvision", "timm")


def _bare_zoo_name(name: str) -> str | None:
    if _installed("torchvision"):
        import torchvision

        if name in torchvision.models.list_models():
            return "torchvision"
    if _installed("timm"):
        import timm

        if name in timm.list_models():
            return "timm"
    return None


def add_model_options(parser: argparse.ArgumentParser, *, full_size: bool = False) -> None:
    """``--config-override`` (and ``--full-size`` where the command works without weights' values)."""
    parser.add_argument("--config-override", action="append", metavar="KEY=VALUE",
                        help="set a transformers:TYPE config attribute (repeatable; values read as JSON: "
                        "num_hidden_layers=3, rope_theta=1e4, tie_word_embeddings=false, text_config.hidden_size=32)")
    if full_size:
        parser.add_argument("--full-size", action="store_true",
                            help="transformers:TYPE at its default (published) size, built on the meta device: "
                            "the structure without allocating weights (no statistics)")


def model_from_args(args: argparse.Namespace) -> LoadedModel:
    """:func:`load_model` with ``MODEL``, ``--weights``, ``--input-shape`` and the options of
    :func:`add_model_options`, as the command defines them."""
    return load_model(args.model, weights=getattr(args, "weights", None), input_shape=parse_shape(args.input_shape),
                      config_overrides=parse_overrides(args.config_override),
                      full_size=getattr(args, "full_size", False))


def load_model(
    spec: str, *, weights: str | None = None, input_shape: tuple[int, ...] | None = None,
    config_overrides: Mapping[str, Any] | None = None, full_size: bool = False,
) -> LoadedModel:
    """Resolve the MODEL argument (see the module docstring); ``weights`` loads a state dict into it.

    ``config_overrides`` and ``full_size`` apply to ``transformers:TYPE`` only.
    """
    path = Path(spec)
    sample: Sample | None
    note = ""
    is_hf = spec.startswith("transformers:")
    if (config_overrides or full_size) and not is_hf:
        option = "--config-override" if config_overrides else "--full-size"
        raise CLIError(f"{option} applies to transformers:TYPE models only. Received: MODEL={spec!r}",
                       "other models are built at their own size from code; pass a module:factory that builds "
                       "the size you want")
    if is_hf:
        built = build_transformers(spec.split(":", 1)[1], config_overrides, full_size=full_size)
        note = built.describe()
        if full_size:
            if weights is not None:
                raise CLIError("--full-size builds the model on the meta device, which cannot hold --weights",
                               "drop --full-size to load the weights into the small config")
            return LoadedModel(spec, built.model, None, "built on the meta device (--full-size): statistics need "
                               "real weights", note=note, full_size=True)
        model = built.model
        sample = sample_input_for(model, input_shape)
    elif spec in BUILTINS:
        builtin = BUILTINS[spec]
        model, sample = builtin.build(), builtin.sample
    elif path.suffix in (".safetensors", ".pt", ".pth", ".bin", ".ckpt") or path.is_file():
        if weights is not None:
            raise CLIError("--weights needs MODEL to be an architecture, not a checkpoint",
                           f"for example: weight-init analyze mlp --weights {spec}")
        state = load_state_dict(path)
        return LoadedModel(spec, _state_dict_module(state), None,
                           "the checkpoint holds weights only (no architecture): data-free analysis; pass an "
                           "architecture and --weights FILE for the forward/backward analyses")
    elif ":" in spec and spec.split(":", 1)[0] in _ZOOS:
        package, name = spec.split(":", 1)
        model, sample = _zoo_model(package, name)
    elif ":" in spec:
        model = _import_factory(spec)
        sample = sample_input_for(model, input_shape)
    elif (package_name := _bare_zoo_name(spec)) is not None:
        model, sample = _zoo_model(package_name, spec)
    else:
        from ..initializers._common import closest_match

        hint = closest_match(spec, BUILTINS)
        raise CLIError(
            f"Unknown model {spec!r}." + (f" Did you mean {hint!r}?" if hint else ""),
            f"use a built-in ({', '.join(BUILTINS)}), module:factory, torchvision:NAME, timm:NAME, "
            "transformers:MODEL_TYPE, or a .safetensors / .pt checkpoint",
        )
    if input_shape is not None:
        sample = sample_input_for(model, input_shape)
    if weights is not None:
        state = load_state_dict(Path(weights))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CLIError(f"{weights!r} does not fit {spec!r}: missing {list(missing)[:5]}, "
                           f"unexpected {list(unexpected)[:5]}", "pass the architecture the weights came from")
    reason = "" if sample is not None else "no sample input could be inferred; pass --input-shape"
    return LoadedModel(spec, model, sample, reason, note)
