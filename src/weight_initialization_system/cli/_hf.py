"""``transformers:TYPE``: a Hugging Face model built from its config class, small by default.

The default configs are the published sizes (Llama's builds 6.7B parameters, 27 GB in float32), too big to
analyze on a laptop. By default every size a config declares is shrunk: widths to :data:`WIDTH`, :data:`HEADS`
heads, :data:`LAYERS` layers, a :data:`VOCAB`-token vocabulary, :data:`POSITIONS` positions, :data:`IMAGE`-pixel
images, stage widths to at most :data:`STAGE_WIDTH`, reading the attribute names each family uses
(``hidden_size``/``n_embd``/``d_model``, ``num_hidden_layers``/``n_layer``/``num_layers``, ...), in nested
``text_config``/``vision_config`` too. A size the config class derives (Llama's ``head_dim``, T5's
``num_decoder_layers``: declared ``None``) is left for it to derive from the small ones; token ids beyond the
small vocabulary are clamped into it.

``--config-override KEY=VALUE`` sets any attribute (``text_config.hidden_size`` for a nested one) on top;
``--full-size`` keeps the published config and builds the model on the meta device, which allocates nothing.

The model class is the task the model type is registered for in ``transformers``' auto mappings, tried in the
order of :data:`TASKS`: sequence-to-sequence first (an encoder–decoder is often also registered as a causal LM,
for its decoder alone), masked LM before causal LM (a type in both is an encoder, whose causal-LM class is the
same encoder used as a decoder), then vision-language (image-text-to-text, then zero-shot image classification:
CLIP's dual encoder before its vision tower alone), image and audio classification, else the bare ``AutoModel``.
A config's ``architectures`` (settable with ``--config-override``) wins.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._common import CLIError

__all__ = [
    "HEADS",
    "IMAGE",
    "LAYERS",
    "POSITIONS",
    "STAGE_WIDTH",
    "TASKS",
    "VOCAB",
    "WIDTH",
    "HFModel",
    "build_config",
    "build_transformers",
    "parse_overrides",
]

WIDTH, HEADS, LAYERS, VOCAB, POSITIONS, IMAGE, STAGE_WIDTH = 64, 4, 2, 512, 128, 32, 128
#: Whisper-style encoders take ``2 * max_source_positions`` frames.
SOURCE_POSITIONS = 32

_WIDTH = ("hidden_size", "n_embd", "d_model")
_OTHER_WIDTHS = ("projection_dim", "embedding_size")
_LAYERS = ("num_hidden_layers", "n_layer", "num_layers", "num_decoder_layers", "encoder_layers", "decoder_layers")
_FFN = ("intermediate_size", "n_inner", "d_ff", "encoder_ffn_dim", "decoder_ffn_dim")
_HEADS = ("num_attention_heads", "n_head", "num_heads", "encoder_attention_heads", "decoder_attention_heads")
_HEAD_DIM = ("head_dim", "d_kv")
_POSITIONS = ("max_position_embeddings", "n_positions", "n_ctx", "max_target_positions")
_STAGE_WIDTHS = ("hidden_sizes", "conv_dim")
_STAGE_DEPTHS = ("depths",)

#: (auto mapping in ``transformers.models.auto.modeling_auto``, Auto class), tried in order.
TASKS: tuple[tuple[str, str], ...] = (
    ("MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES", "AutoModelForSeq2SeqLM"),
    ("MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES", "AutoModelForSpeechSeq2Seq"),
    ("MODEL_FOR_MASKED_LM_MAPPING_NAMES", "AutoModelForMaskedLM"),
    ("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", "AutoModelForCausalLM"),
    ("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", "AutoModelForImageTextToText"),
    ("MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES", "AutoModelForZeroShotImageClassification"),
    ("MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES", "AutoModelForImageClassification"),
    ("MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES", "AutoModelForAudioClassification"),
)


@dataclass(frozen=True)
class HFModel:
    """A built Hugging Face model.

    Attributes:
        model: the module (on the meta device when ``full_size``).
        architecture: its class name, e.g. ``LlamaForCausalLM``.
        sizes: the config values set (the small sizes and the overrides), nested configs as dicts.
        full_size: built from the published config on the meta device.
    """

    model: nn.Module
    architecture: str
    sizes: dict[str, Any]
    full_size: bool

    def describe(self) -> str:
        """One line on how the model was built."""
        if self.full_size:
            how = "the default (published) config on the meta device: no weights allocated"
            return f"{self.architecture} from {how}" + (f" ({_flat(self.sizes)})" if self.sizes else "")
        return f"{self.architecture} from a small config ({_flat(self.sizes)}); --full-size for the default"


def _flat(sizes: Mapping[str, Any], prefix: str = "") -> str:
    parts = []
    for key, value in sizes.items():
        if key == "model_type":
            continue
        if isinstance(value, Mapping):
            parts.append(_flat(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}={value}")
    return ", ".join(p for p in parts if p)


# ----------------------------------------------------------------------------------------------------
# --config-override
# ----------------------------------------------------------------------------------------------------


def _value(text: str) -> Any:
    """JSON (numbers, ``true``, lists, objects, quoted strings), Python's ``True``/``False``/``None``, else the
    text itself."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    return {"true": True, "false": False, "none": None, "null": None}.get(text.strip().lower(), text)


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``["num_hidden_layers=3", "rope_theta=1e4"]`` → ``{"num_hidden_layers": 3, "rope_theta": 10000.0}``."""
    result: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--config-override expects KEY=VALUE. Received: {item!r}",
                           "for example: --config-override num_hidden_layers=3")
        result[key.strip()] = _value(text.strip())
    return result


def _sub_configs(config: Any) -> dict[str, Any]:
    """Nested configs by attribute name (``text_config``, ``vision_config``, ...)."""
    from transformers import PretrainedConfig

    return {k: v for k, v in vars(config).items() if isinstance(v, PretrainedConfig)}


def _aliases(config: Any) -> dict[str, str]:
    return dict(getattr(type(config), "attribute_map", {}) or {})


def _valid_keys(config: Any, prefix: str = "") -> list[str]:
    keys = [f"{prefix}{k}" for k in (*config.to_dict(), *_aliases(config)) if not k.startswith("_")]
    for name, sub in _sub_configs(config).items():
        keys += _valid_keys(sub, f"{prefix}{name}.")
    return list(dict.fromkeys(keys))


def _type_name(value: Any) -> str:
    return "a boolean" if isinstance(value, bool) else "an integer" if isinstance(value, int) else "a number"


def _checked(config: Any, key: str, value: Any, full_key: str) -> Any:
    """``value`` for ``config.key`` when its type fits the default's (an int where an int is declared)."""
    default = getattr(config, key, None)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        return value
    if not ok:
        raise CLIError(f"--config-override {full_key} must be {_type_name(default)} (the default is "
                       f"{default!r}). Received: {full_key}={value!r}",
                       f"for example: --config-override {full_key}={default!r}".replace("True", "true")
                       .replace("False", "false"))
    return value


def _nest(config: Any, overrides: Mapping[str, Any], model_type: str) -> dict[str, Any]:
    """Validate the flat ``a.b`` keys against the config and nest them per sub-config."""
    valid = _valid_keys(config)
    nested: dict[str, Any] = {}
    for full_key, value in overrides.items():
        node, target, parts = config, nested, full_key.split(".")
        for part in parts[:-1]:
            sub = _sub_configs(node).get(part)
            if sub is None:
                node = None
                break
            node, target = sub, target.setdefault(part, {})
        leaf = parts[-1]
        known = node is not None and (leaf in _aliases(node) or leaf in node.to_dict()) and not leaf.startswith("_")
        if not known:
            close = difflib.get_close_matches(full_key, valid, n=3, cutoff=0.5)
            raise CLIError(
                f"Unknown config key {full_key!r} for transformers:{model_type}."
                + (f" Did you mean {', '.join(map(repr, close))}?" if close else ""),
                f"--config-override takes the attributes of {type(config).__name__}, e.g. "
                + ", ".join(f"{k}=..." for k in _example_keys(valid)))
        leaf = _aliases(node).get(leaf, leaf)
        target[leaf] = _checked(node, leaf, value, full_key)
    return nested


def _example_keys(valid: Sequence[str]) -> list[str]:
    sizes = [k for k in valid if k.rsplit(".", 1)[-1] in (*_WIDTH, *_LAYERS, "vocab_size")]
    return (sizes or list(valid))[:3]


# ----------------------------------------------------------------------------------------------------
# The small config
# ----------------------------------------------------------------------------------------------------


def _declared(config: Any) -> dict[str, Any]:
    """What the config class declares for each field; ``None`` (or no default) marks a derived size."""
    cls = type(config)
    if dataclasses.is_dataclass(cls):
        return {f.name: None if f.default is dataclasses.MISSING else f.default for f in dataclasses.fields(cls)}
    return {name: None if p.default is inspect.Parameter.empty else p.default
            for name, p in inspect.signature(cls.__init__).parameters.items()}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ints(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(_is_int(v) for v in value)


def _small(config: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments for a small version of ``config``; ``given`` (the overrides) wins and the sizes
    derived from others (head size, feed-forward width, key/value heads) follow the given ones."""
    declared = _declared(config)
    current = {k: getattr(config, k) for k in declared if hasattr(config, k)}
    out: dict[str, Any] = {}

    def sizes(keys: Sequence[str]) -> list[str]:  # declared sizes, not derived ones
        return [k for k in keys if _is_int(declared.get(k)) and _is_int(current.get(k))]

    def put(key: str, value: Any) -> Any:
        out[key] = given.get(key, value)
        return out[key]

    def final(key: str) -> Any:
        return out.get(key, given.get(key, current.get(key)))

    for key in sizes(_WIDTH + _OTHER_WIDTHS):
        put(key, min(current[key], WIDTH))
    for key in sizes(_HEADS):
        put(key, min(current[key], HEADS))
    for key in sizes(_LAYERS):
        put(key, min(current[key], LAYERS))
    width_key = next((k for k in _WIDTH if _is_int(current.get(k))), None)
    heads_key = next((k for k in _HEADS if _is_int(current.get(k))), None)
    if width_key is not None:
        scale = final(width_key) / current[width_key]
        for key in sizes(_FFN):
            put(key, max(8, round(current[key] * scale)))
    if heads_key is not None:
        heads = final(heads_key)
        for key in sizes(("num_key_value_heads",)):
            put(key, max(1, heads * current[key] // current[heads_key]))
        if width_key is not None:
            for key in sizes(_HEAD_DIM):
                put(key, max(1, final(width_key) // heads))
    for key in sizes(("vocab_size",)):
        put(key, min(current[key], VOCAB))
    for key in sizes(_POSITIONS):
        put(key, min(current[key], POSITIONS))
    for key in sizes(("max_source_positions",)):
        put(key, min(current[key], SOURCE_POSITIONS))
    # Windowed attention (Swin) needs the patch grid to cover a window at every stage: keep its image size.
    for key in sizes(("image_size",)) if "window_size" not in current else ():
        image = put(key, min(current[key], IMAGE))
        for patch in sizes(("patch_size",)):
            put(patch, min(current[patch], max(1, image // 4)))
    for key in _STAGE_WIDTHS:
        if _ints(current.get(key)) and _ints(declared.get(key)):
            shrink = max(1.0, max(current[key]) / STAGE_WIDTH)
            put(key, type(current[key])(max(1, round(v / shrink)) for v in current[key]))
    for key in _STAGE_DEPTHS:
        if _ints(current.get(key)) and _ints(declared.get(key)):
            put(key, type(current[key])(min(v, 1) for v in current[key]))
    vocab = final("vocab_size")
    if _is_int(vocab):
        # Special tokens (and Whisper's suppressed ones) index the embedding: keep them inside the vocabulary.
        for key, value in current.items():
            if key.endswith(("_token_id", "_token_ids", "_token_index", "suppress_tokens")) and key not in given:
                if _is_int(value) and value >= vocab:
                    out[key] = vocab - 1
                elif _ints(value) and max(value) >= vocab:
                    out[key] = type(value)(min(v, vocab - 1) for v in value)
    for name, sub in _sub_configs(config).items():
        nested = _small(sub, given.get(name) or {})
        if getattr(sub, "model_type", ""):
            nested = {"model_type": sub.model_type, **nested}
        out[name] = nested
    out.update({k: v for k, v in given.items() if k not in out})
    return out


# ----------------------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------------------


def _model_class(config: Any) -> Any:
    """The class to build: the config's ``architectures``, else the first task in :data:`TASKS` registered for
    its model type, else ``AutoModel``."""
    import transformers
    from transformers.models.auto import modeling_auto

    if config.architectures:
        name = config.architectures if isinstance(config.architectures, str) else config.architectures[0]
        found = getattr(transformers, name, None)
        if not isinstance(found, type) or not issubclass(found, nn.Module):
            raise CLIError(f"Unknown transformers architecture {name!r} (from config.architectures)",
                           "give a model class of transformers, e.g. --config-override "
                           "'architectures=[\"LlamaForCausalLM\"]'")
        return found
    for mapping, auto in TASKS:
        if config.model_type in getattr(modeling_auto, mapping, {}):
            return getattr(transformers, auto)
    return transformers.AutoModel


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300] or type(error).__name__


def _rejected(model_type: str, overrides: Mapping[str, Any], error: Exception) -> CLIError:
    return CLIError(f"transformers could not build {model_type!r} with {_flat(overrides)}: {_first_line(error)}",
                    "check the --config-override values (sizes must agree, e.g. hidden_size a multiple of "
                    "num_attention_heads)")


def build_config(model_type: str, overrides: Mapping[str, Any] | None = None, *,
                 full_size: bool = False) -> tuple[Any, dict[str, Any]]:
    """``(config, sizes)``: ``model_type``'s config, small unless ``full_size``, with ``overrides`` applied, and
    the values that were set (the small sizes and the overrides, nested configs as dicts).

    Raises:
        CLIError: for transformers not installed, an unknown model type, a bad override, or a config that
            transformers rejects with overrides given.
    """
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        raise CLIError(f"transformers is not installed, so transformers:{model_type} cannot be built",
                       "pip install transformers")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import CONFIG_MAPPING, AutoConfig

    if model_type not in CONFIG_MAPPING:
        close = difflib.get_close_matches(model_type, list(CONFIG_MAPPING.keys()), n=3, cutoff=0.6)
        raise CLIError(f"Unknown transformers model type {model_type!r}."
                       + (f" Did you mean {', '.join(map(repr, close))}?" if close else ""),
                       "give a model type such as gpt2, llama, t5, bert, vit, whisper, resnet or clip (built from "
                       "its config, never downloaded)")
    try:
        default = AutoConfig.for_model(model_type)
    except Exception as error:  # a composite type that has no default sub-configs
        raise CLIError(f"transformers cannot build a default config for {model_type!r}: {_first_line(error)}",
                       "build it in Python and pass MODEL as module:factory") from None
    given = _nest(default, overrides or {}, model_type)
    sizes = given if full_size else _small(default, given)
    try:
        return AutoConfig.for_model(model_type, **sizes), sizes
    except Exception as error:
        if not overrides:
            raise  # our small config failed: a bug, reported as such
        raise _rejected(model_type, overrides, error) from None


def build_transformers(model_type: str, overrides: Mapping[str, Any] | None = None, *,
                       full_size: bool = False) -> HFModel:
    """Build ``model_type`` from :func:`build_config` as the class :func:`_model_class` chooses; on the meta
    device when ``full_size``.

    Raises:
        CLIError: as :func:`build_config`, and for a model that transformers cannot build with overrides given.
    """
    config, sizes = build_config(model_type, overrides, full_size=full_size)
    cls = _model_class(config)
    try:
        with torch.device("meta") if full_size else contextlib.nullcontext():
            model = cls.from_config(config) if hasattr(cls, "from_config") else cls(config)
    except Exception as error:
        if not overrides:
            raise  # our small config failed: a bug, reported as such
        raise _rejected(model_type, overrides, error) from None
    return HFModel(model, type(model).__name__, sizes, full_size)
