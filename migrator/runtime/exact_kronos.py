"""An exact, fast drop-in for Kronos's `KronosPredictor` and `auto_regressive_inference`, run on
the user's own Kronos classes (shiyu-coder/Kronos model/, or a copy such as kronos-finance's).

What Kronos's `auto_regressive_inference` recomputes, and why sharing it is exact:
- It repeats the bars sample_count times and tokenises every copy. The tokenizer is
  deterministic and row-independent: the bars are tokenised once per series here.
- At each of pred_len steps it runs the predictor over the window of the last max_context tokens
  of every path. The window is the context tokens [start, n) (the same tokens at the same
  positions in every path) followed by the path's own generated tokens. Every self-attention of
  Kronos is causal, so the context part's states are the same in every path: it runs once per
  series ("shared"), and each path runs only its own generated tokens, attending to the shared
  part's keys and values. The window moves every step (positions and states change), so nothing
  is carried from one step to the next.
- s1 logits, the dependency-aware layer and s2 logits are read only at the last position.
- The final decode runs the shared context tokens once and each path's generated tokens.
Sampling calls the user's module's own `sample_from_logits` on [paths, vocab] logits twice per
step, as the real code does: the same torch.multinomial calls in the same order and shapes on the
same probabilities (equal up to float rounding), so a seed draws the real code's tokens except
where a rounding difference flips a draw.

Everything it cannot do exactly runs the real code unchanged: a sampler whose source differs from
the Kronos code this was checked against, a model that fails the structural probe (a non-causal
attention, other submodules), a model in training mode (dropout), unknown arguments.

Imports torch and numpy only; Kronos's own modules come through the classes it is given.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import sys
import textwrap
import threading
import time
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from migrator.runtime.prefix_attention import PrefixKV, attend_after_prefix

PHASES = ("tokenizer", "shared", "paths", "sampling", "decode")
SHARED_MEMO_CALLS = 8  # shared=True: recent calls whose paths are reused for equal inputs
_SAMPLER_FUNCTIONS = ("auto_regressive_inference", "sample_from_logits", "top_k_top_p_filtering")
# sha256 of the normalised AST (docstrings dropped) of the three sampler functions together, as in
# Kronos's model/kronos.py at master (the same in kronos-finance 0.1.5's vendored copy).
KNOWN_SAMPLERS = frozenset({
    "0dd833ab017c789583b60a6be10561900a5da79e7c0d1b17de35b5dffef13f64",
})
# The same for KronosPredictor.generate, which the drop-in replaces (a class of the user's that
# overrides it keeps its own).
KNOWN_GENERATE = frozenset({
    "681ff795ba667923cf0c08caf047d1e688fcbc491bd89cdeea1bb051dcecc4ff",
})


class _Unsupported(Exception):
    """The exact path does not apply: run the real code."""


@dataclass
class ExactKronosStats:
    """What the exact path did, and the seconds of each phase (PHASES) of its calls."""

    calls: int = 0
    fallback_calls: int = 0
    memo_hits: int = 0
    fallback_reasons: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))

    def fell_back(self, reason: str) -> None:
        self.fallback_calls += 1
        self.fallback_reasons[reason] = self.fallback_reasons.get(reason, 0) + 1


class _Clock:
    """Seconds per phase; synchronises CUDA only when asked (timing runs), never by default."""

    def __init__(self, stats: ExactKronosStats | None, device: torch.device, sync: bool) -> None:
        self.stats, self.sync = stats, sync and device.type == "cuda"
        self.device = device

    def phase(self, name: str) -> "_Phase":
        return _Phase(self, name)


class _Phase:
    def __init__(self, clock: _Clock, name: str) -> None:
        self.clock, self.name = clock, name

    def __enter__(self) -> None:
        if self.clock.sync:
            torch.cuda.synchronize(self.clock.device)
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if self.clock.sync:
            torch.cuda.synchronize(self.clock.device)
        if self.clock.stats is not None:
            self.clock.stats.seconds[self.name] += time.perf_counter() - self.start


# --- recognising the user's Kronos -------------------------------------------------------------

def _function_digest(functions: list[Any]) -> str | None:
    """sha256 of the functions' ASTs without docstrings (layout and comments do not count)."""
    digest = hashlib.sha256()
    for function in functions:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        except (OSError, TypeError, SyntaxError, IndentationError):
            return None
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        digest.update(ast.dump(tree, annotate_fields=False).encode())
    return digest.hexdigest()


@functools.lru_cache(maxsize=16)
def _digest_of(functions: tuple[Any, ...]) -> str | None:
    return _function_digest(list(functions))


def sampler_digest(module: Any) -> str | None:
    """The digest of the module's sampler functions, computed once per set of function objects
    (it is asked on every call; a patched or reloaded module brings new objects, a new key)."""
    functions = tuple(getattr(module, name, None) for name in _SAMPLER_FUNCTIONS)
    if any(not callable(function) for function in functions):
        return None
    try:
        return _digest_of(functions)
    except TypeError:  # an unhashable callable
        return _function_digest(list(functions))


def kronos_module_of(obj: Any) -> Any:
    """The module the user's Kronos class (or an instance's class) was defined in, searching bases."""
    cls = obj if isinstance(obj, type) else type(obj)
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__)
        if module is not None and callable(getattr(module, "auto_regressive_inference", None)):
            return module
    return None


# --- the user's modules, composed ----------------------------------------------------------------

def _heads(attn: Any, t: torch.Tensor) -> torch.Tensor:
    rows, tokens, _ = t.shape
    return t.view(rows, tokens, attn.n_heads, attn.head_dim).transpose(1, 2)


def _merge(t: torch.Tensor) -> torch.Tensor:
    rows, heads, tokens, head_dim = t.shape
    return t.transpose(1, 2).contiguous().view(rows, tokens, heads * head_dim)


def _rotated(attn: Any, q: torch.Tensor, k: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention's own rotary embedding at positions start.. (its cos/sin table, sliced)."""
    rotary = attn.rotary
    if start == 0:
        return rotary(q, k)
    cos, sin = rotary._update_cos_sin_cache(q, start + q.shape[-2])
    cos, sin = cos[:, :, start:], sin[:, :, start:]
    return q * cos + rotary._rotate_half(q) * sin, k * cos + rotary._rotate_half(k) * sin


def _qkv(block: Any, x: torch.Tensor, start: int) -> tuple[torch.Tensor, ...]:
    attn = block.self_attn
    normed = block.norm1(x)
    q, k = _rotated(attn, _heads(attn, attn.q_proj(normed)), _heads(attn, attn.k_proj(normed)), start)
    return q, k, _heads(attn, attn.v_proj(normed))


def _finish(block: Any, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
    attn = block.self_attn
    x = x + attn.resid_dropout(attn.out_proj(_merge(attended)))
    return x + block.ffn(block.norm2(x))


def _run_shared(blocks: Any, x: torch.Tensor) -> tuple[list[PrefixKV], torch.Tensor]:
    """Shared windows x [G, P, D] through the blocks, as TransformerBlock.forward runs them
    (causal), keeping each block's keys and values for the paths that follow."""
    cache = []
    for block in blocks:
        q, k, v = _qkv(block, x, 0)
        cache.append(PrefixKV(k, v))
        x = _finish(block, x, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    return cache, x


def _run_own(blocks: Any, x: torch.Tensor, cache: list[PrefixKV] | None, start: int) -> torch.Tensor:
    """Each path's own tokens x [R, T, D] at positions start.. after its series' shared window."""
    for index, block in enumerate(blocks):
        q, k, v = _qkv(block, x, start)
        prefix = cache[index] if cache else None
        x = _finish(block, x, attend_after_prefix(q, k, v, prefix, causal=True))
    return x


def _dep_last(model: Any, last_hidden: torch.Tensor, sibling: torch.Tensor, shared_hidden: torch.Tensor | None,
              own_hidden: torch.Tensor | None) -> torch.Tensor:
    """DependencyAwareLayer(hidden, sibling)[:, -1] in eval: its cross-attention (one query, the
    sampled s1's embedding; not causal outside training) over the window's shared and own
    hidden states, without copying the shared ones per path."""
    dep = model.dep_layer
    attn = dep.cross_attn
    q = _heads(attn, attn.q_proj(sibling))  # [R, H, 1, hd]
    prefix = None
    if shared_hidden is not None:
        q_rot, k_shared = attn.rotary(q, _heads(attn, attn.k_proj(shared_hidden)))
        prefix = PrefixKV(k_shared, _heads(attn, attn.v_proj(shared_hidden)))
    k_own = v_own = None
    if own_hidden is not None:
        q_rot, k_own = attn.rotary(q, _heads(attn, attn.k_proj(own_hidden)))
        v_own = _heads(attn, attn.v_proj(own_hidden))
    attended = attend_after_prefix(q_rot, k_own, v_own, prefix, causal=False)
    out = attn.resid_dropout(attn.out_proj(_merge(attended)))[:, 0]
    return dep.norm(last_hidden + out)


def _embed(model: Any, s1: torch.Tensor, s2: torch.Tensor, stamp: torch.Tensor) -> torch.Tensor:
    return model.token_drop(model.embedding([s1, s2]) + model.time_emb(stamp))


def _step_logits_s1(model, shared_tokens, own_tokens, shared_stamp, own_stamp, samples, own_start, clock=None):
    """One step's s1 logits at the last position [R, V] and what decode_s2 needs."""
    clock = clock or _Clock(None, torch.device("cpu"), False)
    shared_hidden = own_hidden = cache = None
    with clock.phase("shared"):
        if shared_tokens[0].shape[1] > 0:
            cache, out = _run_shared(model.transformer, _embed(model, *shared_tokens, shared_stamp))
            shared_hidden = model.norm(out)
    with clock.phase("paths"):
        if own_tokens[0].shape[1] > 0:
            x = _embed(model, *own_tokens, own_stamp)
            own_hidden = model.norm(_run_own(model.transformer, x, cache, own_start))
            last = own_hidden[:, -1]
            logits = model.head(last)
        else:  # no generated token in the window yet: the same last position for every path
            last = shared_hidden[:, -1].repeat_interleave(samples, dim=0)
            logits = model.head(shared_hidden[:, -1]).repeat_interleave(samples, dim=0)
    return logits, last, shared_hidden, own_hidden


def _decode(tokenizer, shared_tokens, own_tokens, samples) -> torch.Tensor:
    """tokenizer.decode over each path's window [R, W, d_in]: the shared part decoded once."""
    decoder = tokenizer.decoder
    shared_z = cache = None
    length = shared_tokens[0].shape[1]
    if length > 0:
        z = tokenizer.post_quant_embed(tokenizer.indices_to_bits(list(shared_tokens), True))
        cache, z = _run_shared(decoder, z)
        shared_z = tokenizer.head(z)
    z = tokenizer.post_quant_embed(tokenizer.indices_to_bits(list(own_tokens), True))
    own_z = tokenizer.head(_run_own(decoder, z, cache, length))
    if shared_z is None:
        return own_z
    return torch.cat([shared_z.repeat_interleave(samples, dim=0), own_z], dim=1)


# --- the structural probe --------------------------------------------------------------------------

def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or not torch.isfinite(a).all():
        return False
    tolerance = 1e-4 if a.dtype in (torch.float32, torch.float64) else 5e-2
    scale = b.abs().max().float().clamp_min(1e-6)
    return float((a.float() - b.float()).abs().max() / scale) <= tolerance


def _weights_token(model: Any, tokenizer: Any) -> tuple:
    """The objects and their weights (in-place updates and load_state_dict bump _version)."""
    return (id(model), id(tokenizer),
            tuple((p.data_ptr(), p._version) for p in list(model.parameters()) + list(tokenizer.parameters())))


_PROBED: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()
_PROBE_LOCK = threading.Lock()


def _probe(model: Any, tokenizer: Any) -> str | None:
    """None when the composition above reproduces the user's own forward passes on a small
    deterministic input (the predictor's decode_s1/decode_s2, the tokenizer's decode), else why
    not. Memoised per model object and weights; uses no random numbers."""
    token = _weights_token(model, tokenizer)
    with _PROBE_LOCK:
        seen = _PROBED.get(model)
        if seen is not None and seen[0] is tokenizer and seen[1] == token:
            return seen[2]
    try:
        reason = _probe_once(model, tokenizer)
    except Exception as error:  # any other structure: not recognised
        reason = f"unrecognised Kronos model ({type(error).__name__}: {error})"
    with _PROBE_LOCK:
        try:
            _PROBED[model] = (tokenizer, token, reason)
        except TypeError:
            pass
    return reason


def _probe_once(model: Any, tokenizer: Any) -> str | None:
    device = next(model.parameters()).device
    vocab1, vocab2 = model.embedding.emb_s1.num_embeddings, model.embedding.emb_s2.num_embeddings
    length, shared, rows = 7, 4, 2
    pos = torch.arange(rows * length, device=device).view(rows, length)
    s1 = (pos * 37 + 11) % vocab1
    s2 = (pos * 53 + 5) % vocab2
    s1[1, :shared], s2[1, :shared] = s1[0, :shared], s2[0, :shared]
    stamp = torch.stack([pos % 60, pos % 24, pos % 7, pos % 31 + 1, pos % 12 + 1], -1).float()
    stamp[1, :shared] = stamp[0, :shared]
    sibling = (torch.arange(rows, device=device) * 101 + 3)[:, None] % vocab1
    with torch.no_grad():
        real_s1, context = model.decode_s1(s1, s2, stamp)
        real_s2 = model.decode_s2(context, sibling)[:, -1]
        logits, last, shared_hidden, own_hidden = _step_logits_s1(
            model, (s1[:1, :shared], s2[:1, :shared]), (s1[:, shared:], s2[:, shared:]),
            stamp[:1, :shared], stamp[:, shared:], rows, shared)
        mixed = _dep_last(model, last, model.embedding.emb_s1(sibling), shared_hidden, own_hidden)
        if not _close(logits, real_s1[:, -1]) or not _close(model.head.cond_forward(mixed), real_s2):
            return "the Kronos predictor is not causal as recognised (shared-window check failed)"
        if vocab1 != 2 ** tokenizer.s1_bits or vocab2 != 2 ** tokenizer.s2_bits:
            return "the tokenizer's vocabulary does not match the predictor's"
        real_z = tokenizer.decode([s1, s2], half=True)
        z = _decode(tokenizer, (s1[:1, :shared], s2[:1, :shared]), (s1[:, shared:], s2[:, shared:]), rows)
        if not _close(z, real_z):
            return "the Kronos tokenizer's decoder is not causal as recognised (shared-window check failed)"
    return None


def why_not_exact(module: Any, model: Any, tokenizer: Any) -> str | None:
    """None when the exact path applies to these objects, else the reason it does not."""
    if module is None:
        return "no Kronos module with auto_regressive_inference"
    if sampler_digest(module) not in KNOWN_SAMPLERS:
        return "the module's sampler differs from the Kronos code the exact path was checked against"
    if getattr(model, "training", True) or getattr(tokenizer, "training", True):
        return "a model in training mode (dropout)"
    return _probe(model, tokenizer)


_WARNED: set[str] = set()


def _warn_once(reason: str) -> None:
    if reason not in _WARNED:
        _WARNED.add(reason)
        warnings.warn(f"migrate exact Kronos: running Kronos's own code: {reason}", RuntimeWarning, stacklevel=3)


# --- the exact sampler -------------------------------------------------------------------------------

def _exact_inference(module, tokenizer, model, x, x_stamp, y_stamp, max_context, pred_len, clip, T, top_k, top_p,
                     sample_count, verbose, stats: ExactKronosStats | None = None, sync: bool = False):
    """auto_regressive_inference's result (numpy [B, window, d_in], the mean over paths)."""
    sample = module.sample_from_logits
    clock = _Clock(stats, x.device, sync)
    with torch.no_grad():
        x = torch.clip(x, -clip, clip)
        series, samples, length = x.size(0), sample_count, x.size(1)
        rows = series * samples
        with clock.phase("tokenizer"):
            context1, context2 = tokenizer.encode(x, half=True)  # [B, n]: once per series
        full_stamp = torch.cat([x_stamp, y_stamp], dim=1)  # [B, n + pred_len, 5]
        generated1 = context1.new_empty(rows, pred_len)
        generated2 = context2.new_empty(rows, pred_len)
        steps = getattr(module, "trange", range) if verbose else range
        for i in steps(pred_len):
            current = length + i
            start = max(0, current - max_context)
            own_from = max(0, start - length)
            shared_from = min(start, length)
            own_stamp = full_stamp[:, length + own_from:current].repeat_interleave(samples, dim=0)
            logits, last, shared_hidden, own_hidden = _step_logits_s1(
                model, (context1[:, shared_from:], context2[:, shared_from:]),
                (generated1[:, own_from:i], generated2[:, own_from:i]),
                full_stamp[:, shared_from:length], own_stamp, samples, length - shared_from, clock)
            with clock.phase("sampling"):
                sample_pre = sample(logits, temperature=T, top_k=top_k, top_p=top_p, sample_logits=True)
            with clock.phase("paths"):
                sibling = model.embedding.emb_s1(sample_pre)
                logits2 = model.head.cond_forward(_dep_last(model, last, sibling, shared_hidden, own_hidden))
            with clock.phase("sampling"):
                sample_post = sample(logits2, temperature=T, top_k=top_k, top_p=top_p, sample_logits=True)
            generated1[:, i] = sample_pre.squeeze(-1)
            generated2[:, i] = sample_post.squeeze(-1)
        with clock.phase("decode"):
            start = max(0, length + pred_len - max_context)
            own_from, shared_from = max(0, start - length), min(start, length)
            z = _decode(tokenizer, (context1[:, shared_from:], context2[:, shared_from:]),
                        (generated1[:, own_from:], generated2[:, own_from:]), samples)
            z = z.reshape(-1, sample_count, z.size(1), z.size(2))
            preds = z.cpu().numpy()
            preds = np.mean(preds, axis=1)
    return preds


def exact_auto_regressive_inference(tokenizer, model, x, x_stamp, y_stamp, max_context, pred_len, clip=5, T=1.0,
                                    top_k=0, top_p=0.99, sample_count=5, verbose=False):
    """A drop-in for Kronos's module function auto_regressive_inference (same signature, same
    result type and shape); the real function runs whenever the exact path does not apply."""
    module = kronos_module_of(model)
    reason = why_not_exact(module, model, tokenizer) or _why_not_call(x, x_stamp, y_stamp, max_context, pred_len,
                                                                       sample_count)
    if reason is not None:
        _warn_once(reason)
        if module is None:
            raise TypeError("exact_auto_regressive_inference: the model's class is not from a Kronos module")
        return module.auto_regressive_inference(tokenizer, model, x, x_stamp, y_stamp, max_context, pred_len, clip, T,
                                                top_k, top_p, sample_count, verbose)
    return _exact_inference(module, tokenizer, model, x, x_stamp, y_stamp, max_context, pred_len, clip, T, top_k,
                            top_p, sample_count, verbose)


def _why_not_call(x, x_stamp, y_stamp, max_context, pred_len, sample_count) -> str | None:
    tensors = (x, x_stamp, y_stamp)
    if not all(isinstance(t, torch.Tensor) and t.dim() == 3 for t in tensors):
        return "inputs that are not [batch, time, features] tensors"
    if not (isinstance(pred_len, int) and isinstance(max_context, int) and isinstance(sample_count, int)):
        return "non-integer pred_len, max_context or sample_count"
    if pred_len < 1 or max_context < 1 or sample_count < 1 or x.size(1) < 1:
        return "an empty context, window or sample count"
    if x_stamp.size(0) != x.size(0) or y_stamp.size(0) != x.size(0) or x_stamp.size(1) != x.size(1) \
            or y_stamp.size(1) < pred_len:
        return "stamps that do not match the bars"
    return None


def _tensor_key(t: Any) -> tuple:
    array = np.ascontiguousarray(np.asarray(t))
    return (array.shape, str(array.dtype), array.tobytes())


def exact_predictor_class(KronosPredictor: type, *, shared: bool = False) -> type:
    """A subclass of the user's KronosPredictor class with the exact fast path: the same
    constructor, predict, predict_batch and generate (and return types). `shared=True` (the
    documented opt-in MARKETSIM_EXACT_KRONOS=shared) reuses one call's result for later calls with
    the same inputs and parameters (the backtest's four keys of one simulation): each key's
    distribution is kept, their joint distribution is not."""
    if not isinstance(KronosPredictor, type):
        raise TypeError(f"exact_predictor_class needs a class, got {type(KronosPredictor).__name__}")
    for name in ("generate", "predict", "predict_batch"):
        if not callable(getattr(KronosPredictor, name, None)):
            raise TypeError(f"{KronosPredictor.__name__} has no {name}(): not Kronos's KronosPredictor")
    module = kronos_module_of(KronosPredictor)
    if module is None:
        raise ValueError(f"{KronosPredictor.__qualname__} is not defined in a Kronos module "
                         "(no auto_regressive_inference next to it)")

    known_generate = _function_digest([KronosPredictor.generate]) in KNOWN_GENERATE

    class ExactKronosPredictor(KronosPredictor):
        __doc__ = KronosPredictor.__doc__
        exact_shared = bool(shared)

        def generate(self, x, x_stamp, y_stamp, pred_len, T, top_k, top_p, sample_count, verbose, *args, **kwargs):
            stats = self.exact_stats
            stats.calls += 1
            if args or kwargs:
                reason = "unknown arguments"
            elif not known_generate:
                reason = "a KronosPredictor.generate that differs from Kronos's"
            else:
                reason = why_not_exact(module, self.model, self.tokenizer)
            if reason is None:
                device = next(self.model.parameters()).device
                x_tensor = torch.from_numpy(np.array(x).astype(np.float32)).to(self.device)
                x_stamp_tensor = torch.from_numpy(np.array(x_stamp).astype(np.float32)).to(self.device)
                y_stamp_tensor = torch.from_numpy(np.array(y_stamp).astype(np.float32)).to(self.device)
                reason = _why_not_call(x_tensor, x_stamp_tensor, y_stamp_tensor, self.max_context, pred_len,
                                       sample_count)
                if reason is None and x_tensor.device != device:
                    reason = "inputs on another device than the model"
            if reason is not None:
                stats.fell_back(reason)
                _warn_once(reason)
                return super().generate(x, x_stamp, y_stamp, pred_len, T, top_k, top_p, sample_count, verbose,
                                        *args, **kwargs)
            key = None
            if self.exact_shared:
                key = (_tensor_key(x), _tensor_key(x_stamp), _tensor_key(y_stamp), pred_len, T, top_k, top_p,
                       sample_count, self.max_context, self.clip, _weights_token(self.model, self.tokenizer))
                hit = self._exact_memo.get(key)
                if hit is not None:
                    stats.memo_hits += 1
                    self._exact_memo.move_to_end(key)
                    return hit.copy()
            preds = _exact_inference(module, self.tokenizer, self.model, x_tensor, x_stamp_tensor, y_stamp_tensor,
                                     self.max_context, pred_len, self.clip, T, top_k, top_p, sample_count, verbose,
                                     stats=stats, sync=self.exact_sync_timing)
            preds = preds[:, -pred_len:, :]
            if key is not None:
                self._exact_memo[key] = preds.copy()
                while len(self._exact_memo) > SHARED_MEMO_CALLS:
                    self._exact_memo.popitem(last=False)
            return preds

        @property
        def exact_stats(self) -> ExactKronosStats:
            stats = self.__dict__.get("_exact_stats")
            if stats is None:
                stats = self.__dict__["_exact_stats"] = ExactKronosStats()
            return stats

        @property
        def _exact_memo(self) -> OrderedDict:
            return self.__dict__.setdefault("_exact_memo_calls", OrderedDict())

        exact_sync_timing = False  # True: synchronise CUDA around each phase (for timing only)

    ExactKronosPredictor.__name__ = ExactKronosPredictor.__qualname__ = f"Exact{KronosPredictor.__name__}"
    ExactKronosPredictor.__module__ = __name__
    return ExactKronosPredictor
