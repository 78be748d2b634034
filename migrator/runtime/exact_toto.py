"""An exact, fast drop-in for toto-ts's `TotoForecaster`, for the user's own backtest process.

Why it is exact: with prediction_length <= the patch size and no exogenous variables, toto-ts's
`generate_samples` runs the model once per batch of samples_per_batch copies of each series, and
every copy draws its forecast from the same per-step distribution (the last patch of that one
forward). One forward per distinct series and num_samples draws from that distribution is
therefore the same forecast distribution, post-processed with toto-ts's own
`replace_extreme_values`. Each series is padded exactly as toto-ts pads it alone (left zeros to a
multiple of the stride; padding changes Toto's forecast), so batching never changes a forecast.

Why it is fast in a walk-forward backtest called one context at a time: a bounded memo keyed by
the exact model-input bytes serves repeated contexts, and when a new context is a strict prefix
of (or extends) a recently seen series, the next W-1 shorter prefixes of the longer one are
forecast in the same batched forward (speculation; W = 32, MARKETSIM_EXACT_TOTO_WINDOW). Wasted
work is bounded: at most W-1 extra rows per miss, at most 8W speculative rows unused at any time,
and speculation stops for good once 8W speculative rows were evicted from the memo unused.

Everything else (prediction_length > patch size, exogenous variables, num_samples None, an
output distribution this module does not know) calls toto-ts unchanged.

Imports torch only (and toto-ts's own modules through the class it is given; memo keys use
tensor.numpy(), and toto-ts itself needs numpy).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch.distributions import Categorical, MixtureSameFamily, StudentT

DEFAULT_WINDOW = 32  # speculative window W (rows per triggering miss, the miss included)
MEMO_ROWS = 1024  # memo entries (one per distinct series; ~25 KB each for the base model, V=1)
RECENT_SERIES = 16  # longest recently seen series kept for prefix recognition
MAX_ROWS_PER_FORWARD = 64  # bounds the activation memory of one batched forward


def _window_from_env() -> int:
    raw = os.environ.get("MARKETSIM_EXACT_TOTO_WINDOW", "")
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_WINDOW
    return value if value >= 1 else DEFAULT_WINDOW


@dataclass
class ExactStats:
    """What the exact forecaster did; `wasted_rows` is speculative forwards never used (yet)."""

    calls: int = 0
    fallback_calls: int = 0
    rows_requested: int = 0
    memo_hits: int = 0
    forwards: int = 0
    rows_forwarded: int = 0
    speculative_rows: int = 0
    speculative_rows_used: int = 0
    speculative_rows_evicted_unused: int = 0
    speculation_enabled: bool = True
    forward_seconds: float = 0.0  # wall time inside the batched forwards (padding included)

    @property
    def wasted_rows(self) -> int:
        return self.speculative_rows - self.speculative_rows_used


@dataclass
class _Row:
    """One series of a batch as the model sees it: series, padding mask, id mask, each (V, L)."""

    series: torch.Tensor
    mask: torch.Tensor
    ids: torch.Tensor

    @property
    def length(self) -> int:
        return int(self.series.shape[-1])

    def prefix(self, length: int) -> "_Row":
        return _Row(self.series[:, :length], self.mask[:, :length], self.ids[:, :length])

    def is_prefix_of(self, other: "_Row") -> bool:
        if (
            self.series.shape[0] != other.series.shape[0]
            or self.length >= other.length
            or self.series.dtype != other.series.dtype
            or self.series.device != other.series.device
            or self.ids.dtype != other.ids.dtype
        ):
            return False
        n = self.length
        return (
            torch.equal(self.series, other.series[:, :n])
            and torch.equal(self.mask, other.mask[:, :n])
            and torch.equal(self.ids, other.ids[:, :n])
        )

    def key(self) -> tuple:
        return (
            tuple(self.series.shape),
            str(self.series.dtype),
            str(self.mask.dtype),
            str(self.ids.dtype),
            str(self.series.device),
            _tensor_bytes(self.series),
            _tensor_bytes(self.mask),
            _tensor_bytes(self.ids),
        )


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().contiguous().reshape(-1).cpu()
    return flat.view(torch.uint8).numpy().tobytes()


@dataclass
class _Params:
    """The last patch's output distribution of one series: tensors shaped (V, patch[, K])."""

    kind: str  # "mixture" or "studentt"
    component_cls: type
    df: torch.Tensor
    loc: torch.Tensor
    scale: torch.Tensor
    probs: torch.Tensor | None
    affine_loc: torch.Tensor
    affine_scale: torch.Tensor


def _underlying(model: torch.nn.Module) -> torch.nn.Module:
    # torch.compile wraps the module; its parameters and identity live on _orig_mod.
    return getattr(model, "_orig_mod", model)


_PARAMETERS: weakref.WeakKeyDictionary[torch.nn.Module, list[torch.nn.Parameter]] = weakref.WeakKeyDictionary()


def _model_token(model: torch.nn.Module, device_type: str) -> tuple:
    """Identity of the model and its weights (in-place updates bump _version) and autocast state.

    The parameter list is walked once per module (a walk costs more than a forecast's draws);
    in-place updates, load_state_dict and .to() are seen; swapping a submodule object is not
    (call clear_memo() after that).
    """
    module = _underlying(model)
    parameters = _PARAMETERS.get(module)
    if parameters is None:
        parameters = _PARAMETERS[module] = list(module.parameters())
    weights = tuple((p.data_ptr(), p._version) for p in parameters)
    autocast = torch.is_autocast_enabled(device_type)
    autocast_dtype = str(torch.get_autocast_dtype(device_type)) if autocast else ""
    return (id(module), weights, autocast, autocast_dtype)


def _split_params(base: Any, loc: torch.Tensor, scale: torch.Tensor, patch: int) -> list[_Params] | None:
    """Per-row params of the last patch, or None for a distribution this module does not know."""
    if isinstance(base, MixtureSameFamily) and isinstance(base.mixture_distribution, Categorical):
        comp = base.component_distribution
        if not isinstance(comp, StudentT):
            return None
        kind, probs = "mixture", base.mixture_distribution.probs[:, :, -patch:]
    elif isinstance(base, StudentT):
        comp, kind, probs = base, "studentt", None
    else:
        return None
    shape = base.batch_shape  # (rows, V, time)
    a_loc = torch.broadcast_to(loc[:, :, -shape[-1]:] if loc.shape[-1] > 1 else loc, shape)[:, :, -patch:]
    a_scale = torch.broadcast_to(scale[:, :, -shape[-1]:] if scale.shape[-1] > 1 else scale, shape)[:, :, -patch:]
    df, c_loc, c_scale = (comp.df[:, :, -patch:], comp.loc[:, :, -patch:], comp.scale[:, :, -patch:])
    out = []
    for i in range(shape[0]):
        out.append(
            _Params(
                kind=kind,
                component_cls=type(comp),
                df=df[i].clone(),
                loc=c_loc[i].clone(),
                scale=c_scale[i].clone(),
                probs=None if probs is None else probs[i].clone(),
                affine_loc=a_loc[i].clone(),
                affine_scale=a_scale[i].clone(),
            )
        )
    return out


def _full_forward(model, series, mask, ids, kv_cache, padded):
    """toto-ts's forward exactly as its generate_samples makes the first call."""
    return model(
        inputs=series,
        input_padding_mask=mask,
        id_mask=ids,
        kv_cache=kv_cache,
        scaling_prefix_length=padded,
        num_exogenous_variables=0,
    )


def _last_patch_forward(model, series, mask, ids, kv_cache, padded):
    """TotoBackbone.forward with the unembedding and output head on the last token only.

    The same modules in the same order as TotoBackbone.backbone (the KV cache is empty on this
    first call, so nothing is truncated); unembed and the output head act per token, so keeping
    the one token the forecast reads gives the same last-patch distribution for a fraction of
    the head's cost. Used only on an uncompiled toto-ts TotoBackbone whose forward is not
    overridden; anything else goes through _full_forward.
    """
    scaled, loc, scale = model.scaler(
        series,
        weights=torch.ones_like(series, device=series.device),
        padding_mask=mask,
        prefix_length=padded,
    )
    embeddings, reduced_id_mask = model.patch_embed(scaled, ids)
    labels = model.build_variate_label_embeds(0, embeddings)
    transformed = model.transformer(embeddings, reduced_id_mask, kv_cache, variate_label_embeds=labels)
    last = model.unembed(transformed[:, :, -1:])  # (B, V, 1, patch * embed), patch-major
    rows, variates = last.shape[0], last.shape[1]
    flattened = last.reshape(rows, variates, -1, model.embed_dim)
    return model.output_distribution(flattened), loc, scale


class _ExactMixin:
    """The exact path; mixed into a subclass of the toto-ts TotoForecaster it is given."""

    def _exact_init(self) -> None:
        self.exact_window = _window_from_env()
        self.exact_stats = ExactStats()
        self._exact_lock = threading.RLock()
        self._memo: OrderedDict[tuple, _Params] = OrderedDict()
        self._memo_token: tuple | None = None
        self._recent: list[_Row] = []
        self._unused_speculative: set[tuple] = set()
        self._exact_unsupported = False

    @property
    def speculation_cap(self) -> int:
        return 8 * self.exact_window

    def forecast(
        self,
        inputs,
        prediction_length: int,
        num_samples: int | None = None,
        samples_per_batch: int = 10,
        use_kv_cache: bool = True,
        future_exogenous_variables=None,
    ):
        if not hasattr(self, "exact_stats"):
            self._exact_init()
        with self._exact_lock:
            self.exact_stats.calls += 1
            result = None
            if self._exact_applies(inputs, prediction_length, num_samples, samples_per_batch, future_exogenous_variables):
                result = self._exact_forecast(inputs, prediction_length, num_samples, use_kv_cache)
            if result is not None:
                return result
            self.exact_stats.fallback_calls += 1
        return super().forecast(  # type: ignore[misc]
            inputs,
            prediction_length,
            num_samples=num_samples,
            samples_per_batch=samples_per_batch,
            use_kv_cache=use_kv_cache,
            future_exogenous_variables=future_exogenous_variables,
        )

    def memo_bytes(self) -> int:
        """Bytes held by the memo's tensors (its bound: MEMO_ROWS entries)."""
        with self._exact_lock:
            return sum(
                t.numel() * t.element_size()
                for p in self._memo.values()
                for t in (p.df, p.loc, p.scale, p.probs, p.affine_loc, p.affine_scale)
                if t is not None
            )

    def clear_memo(self) -> None:
        with self._exact_lock:
            self._memo.clear()
            self._recent.clear()
            self._unused_speculative.clear()

    # -- when the exact path applies -------------------------------------------------------

    def _exact_applies(self, inputs, prediction_length, num_samples, samples_per_batch, exogenous) -> bool:
        if self._exact_unsupported or exogenous is not None or num_samples is None:
            return False
        if int(getattr(inputs, "num_exogenous_variables", 0) or 0) != 0:
            return False
        embed = self.model.patch_embed
        if embed.patch_size != embed.stride:
            return False
        if not (isinstance(prediction_length, int) and 1 <= prediction_length <= embed.patch_size):
            return False
        if not (isinstance(num_samples, int) and isinstance(samples_per_batch, int)):
            return False
        # toto-ts asserts divisibility; let it raise its own error on the fallback path.
        if num_samples < 1 or samples_per_batch < 1 or num_samples % samples_per_batch != 0:
            return False
        series = getattr(inputs, "series", None)
        if not isinstance(series, torch.Tensor) or series.ndim not in (2, 3) or not series.is_floating_point():
            return False
        for name in ("padding_mask", "id_mask"):
            t = getattr(inputs, name, None)
            if not isinstance(t, torch.Tensor) or t.shape != series.shape:
                return False
        return series.shape[-1] >= 1

    # -- the exact path ----------------------------------------------------------------------

    def _exact_forecast(self, inputs, prediction_length: int, num_samples: int, use_kv_cache: bool):
        params = self._exact_params(inputs, use_kv_cache)
        if params is None:
            return None
        return self._draw(params, prediction_length, num_samples, inputs.series.dtype)

    def _exact_params(self, inputs, use_kv_cache: bool) -> list[_Params] | None:
        """The last-patch distribution of every batch row: from the memo or batched forwards."""
        series = inputs.series
        masks, ids = inputs.padding_mask, inputs.id_mask
        if series.ndim == 2:
            series, masks, ids = series.unsqueeze(0), masks.unsqueeze(0), ids.unsqueeze(0)
        token = _model_token(self.model, series.device.type)
        if token != self._memo_token:
            self.clear_memo()
            self._memo_token = token

        rows = [_Row(series[b], masks[b], ids[b]) for b in range(series.shape[0])]
        keys = [row.key() for row in rows]
        self.exact_stats.rows_requested += len(rows)

        found: dict[tuple, _Params] = {}
        needed: dict[tuple, _Row] = {}
        for row, key in zip(rows, keys):
            if key in found or key in needed:
                continue
            if key in self._memo:
                self._memo.move_to_end(key)
                found[key] = self._memo[key]
                self.exact_stats.memo_hits += 1
                if key in self._unused_speculative:
                    self._unused_speculative.discard(key)
                    self.exact_stats.speculative_rows_used += 1
            else:
                needed[key] = row
        if needed:
            batch: dict[tuple, _Row] = dict(needed)
            speculative: set[tuple] = set()
            for row in needed.values():
                for key, extra in self._speculate(row):
                    if key not in batch:
                        batch[key] = extra
                        speculative.add(key)
            fresh = self._forward(batch, use_kv_cache)
            if fresh is None:
                return None
            found.update((key, fresh[key]) for key in needed)
            self.exact_stats.speculative_rows += len(speculative)
            self._unused_speculative |= speculative
            for row in needed.values():
                self._remember(row)
        return [found[key] for key in keys]

    def _speculate(self, row: _Row) -> list[tuple[tuple, _Row]]:
        """Up to W-1 not-yet-known shorter prefixes of the longest known series `row` belongs to."""
        stats = self.exact_stats
        if not stats.speculation_enabled or self.exact_window <= 1:
            return []
        if len(self._unused_speculative) >= self.speculation_cap:
            return []
        source = None
        for seen in self._recent:
            if row.is_prefix_of(seen):
                source = seen
                break
            if seen.is_prefix_of(row):
                source = row
                break
        if source is None:
            return []
        out = []
        room = self.speculation_cap - len(self._unused_speculative)
        low = max(1, row.length - self.exact_window + 1)
        for length in range(row.length - 1, low - 1, -1):
            if len(out) >= room:
                break
            extra = source.prefix(length)
            key = extra.key()
            if key not in self._memo:
                out.append((key, extra))
        return out

    def _remember(self, row: _Row) -> None:
        """Keep the longest recent series for prefix recognition (bounded)."""
        for i, seen in enumerate(self._recent):
            same = row.length == seen.length and torch.equal(row.series, seen.series)
            if same and torch.equal(row.mask, seen.mask) and torch.equal(row.ids, seen.ids) or row.is_prefix_of(seen):
                self._recent.insert(0, self._recent.pop(i))
                return
            if seen.is_prefix_of(row):
                self._recent.pop(i)
                break
        self._recent.insert(0, _Row(row.series.clone(), row.mask.clone(), row.ids.clone()))
        del self._recent[RECENT_SERIES:]

    def _forward(self, batch: dict[tuple, _Row], use_kv_cache: bool) -> dict[tuple, _Params] | None:
        """One forward per padded length (chunked), each row padded exactly as toto-ts pads it alone."""
        toto = self._toto_module
        embed = self.model.patch_embed
        stride, patch = embed.stride, embed.patch_size
        groups: dict[int, list[tuple[tuple, _Row]]] = {}
        fresh: dict[tuple, _Params] = {}
        for key, row in batch.items():
            groups.setdefault(math.ceil(row.length / stride) * stride, []).append((key, row))
        started = time.perf_counter()
        with torch.no_grad():
            for padded, members in sorted(groups.items()):
                for start in range(0, len(members), MAX_ROWS_PER_FORWARD):
                    chunk = members[start : start + MAX_ROWS_PER_FORWARD]
                    series = torch.stack([toto.pad_array(r.series, stride) for _, r in chunk])
                    mask = torch.stack([toto.pad_array(r.mask, stride) for _, r in chunk])
                    ids = torch.stack([toto.pad_id_mask(r.ids, stride) for _, r in chunk])
                    kv_cache = None
                    if use_kv_cache:
                        kv_cache = self.model.allocate_kv_cache(
                            batch_size=series.shape[0],
                            num_variates=series.shape[1],
                            max_time_steps=padded + patch,
                            device=series.device,
                            dtype=series.dtype,
                        )
                    forward = _last_patch_forward if self._plain_backbone() else _full_forward
                    base, loc, scale = forward(self.model, series, mask, ids, kv_cache, padded)
                    self.exact_stats.forwards += 1
                    self.exact_stats.rows_forwarded += len(chunk)
                    params = _split_params(base, loc, scale, patch)
                    if params is None:
                        self._exact_unsupported = True
                        return None
                    for (key, _), p in zip(chunk, params):
                        fresh[key] = p
                        self._store(key, p)
        self.exact_stats.forward_seconds += time.perf_counter() - started
        return fresh

    def _plain_backbone(self) -> bool:
        """True when self.model is toto-ts's own, uncompiled TotoBackbone (forward not overridden)."""
        backbone = getattr(self._toto_module, "TotoBackbone", None)
        model_type = type(self.model)
        return (
            backbone is not None
            and isinstance(self.model, backbone)
            and model_type.forward is backbone.forward
            and model_type.backbone is backbone.backbone
        )

    def _store(self, key: tuple, params: _Params) -> None:
        self._memo[key] = params
        self._memo.move_to_end(key)
        while len(self._memo) > MEMO_ROWS:
            old, _ = self._memo.popitem(last=False)
            if old in self._unused_speculative:
                self._unused_speculative.discard(old)
                self.exact_stats.speculative_rows_evicted_unused += 1
                if self.exact_stats.speculative_rows_evicted_unused >= self.speculation_cap:
                    self.exact_stats.speculation_enabled = False

    def exact_distribution(self, inputs, prediction_length: int, use_kv_cache: bool = True):
        """The per-step forecast distribution the exact path draws from, shaped (B, V, T).

        toto-ts's own `AffineTransformed` over its own mixture; None where the exact path does
        not apply (then `forecast` calls toto-ts unchanged).
        """
        with self._exact_lock:
            if not self._exact_applies(inputs, prediction_length, 1, 1, None):
                return None
            params = self._exact_params(inputs, use_kv_cache)
            return None if params is None else self._distribution(params, prediction_length)

    def _distribution(self, params: list[_Params], prediction_length: int):
        first = params[0]

        def stacked(name: str) -> torch.Tensor:
            return torch.stack([getattr(p, name)[:, :prediction_length] for p in params])

        # Validation is skipped: these are the very parameters toto-ts's model produced.
        base = first.component_cls(stacked("df"), stacked("loc"), stacked("scale"), validate_args=False)
        if first.kind == "mixture":
            mixture = Categorical(probs=stacked("probs"), validate_args=False)
            base = MixtureSameFamily(mixture, base, validate_args=False)
        return self._toto_module.AffineTransformed(base, loc=stacked("affine_loc"), scale=stacked("affine_scale"))

    def _draw(self, params: list[_Params], prediction_length: int, num_samples: int, input_dtype: torch.dtype):
        toto = self._toto_module
        with torch.no_grad():
            distr = self._distribution(params, prediction_length)
            draws = toto.replace_extreme_values(distr.sample((num_samples,)))  # (n, B, V, T)
            samples = draws.permute(1, 2, 3, 0).to(torch.promote_types(input_dtype, draws.dtype)).contiguous()
            return toto.Forecast(mean=samples.mean(dim=-1), samples=samples)


_CLASSES: dict[type, type] = {}
_TOTO_NAMES = ("pad_array", "pad_id_mask", "replace_extreme_values", "AffineTransformed", "Forecast")


def _toto_module_of(cls: type):
    """toto-ts's forecaster module (toto... or toto.toto...) that `cls` or a base class lives in."""
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__)
        if module is not None and all(hasattr(module, name) for name in _TOTO_NAMES):
            return module
    raise TypeError(f"{cls.__qualname__} is not a toto-ts TotoForecaster class")


def exact_forecaster_class(cls: type) -> type:
    """A subclass of toto-ts's TotoForecaster class `cls` with the exact fast path."""
    if issubclass(cls, _ExactMixin):
        return cls
    if cls not in _CLASSES:

        def __init__(self, model, *args, **kwargs):
            cls.__init__(self, model, *args, **kwargs)
            self._exact_init()

        _CLASSES[cls] = type(
            "ExactTotoForecaster",
            (_ExactMixin, cls),
            {
                "__init__": __init__,
                "__module__": __name__,
                "__doc__": f"{cls.__name__} with the exact fast path of {__name__}.",
                # pad_array, pad_id_mask, replace_extreme_values, AffineTransformed and Forecast
                # come from the very module the given class lives in (toto or toto.toto).
                "_toto_module": _toto_module_of(cls),
            },
        )
    return _CLASSES[cls]


def _toto_forecaster_class() -> type:
    try:
        from toto.inference.forecaster import TotoForecaster
    except ImportError:
        from toto.toto.inference.forecaster import TotoForecaster  # type: ignore[no-redef]
    return TotoForecaster


def __getattr__(name: str):
    # ExactTotoForecaster imports toto-ts only when first asked for.
    if name == "ExactTotoForecaster":
        return exact_forecaster_class(_toto_forecaster_class())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
