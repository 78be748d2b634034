"""Conformance of migrator.runtime.exact_kronos against the real Kronos code (kronos-finance 0.1.5's
vendored copy of Kronos's model/: requirements/kronos.txt).

Seeded random weights (as Kronos initialises them, and with random biases as a trained
checkpoint has them), at the tiny, mini and small shapes. For a seed the exact path must draw
the real code's tokens; over 300 seeds its predictions must come from the real code's
distribution (and a changed temperature or input must be told apart); everything it does not
cover must be the real code's result bit for bit.

Deliberately no importorskip: without kronos-finance these tests fail (CI installs it).
"""

from __future__ import annotations

import importlib.util
import sys
import types
import warnings
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from kronos_finance._vendor.kronos_model import kronos as K
from migrator.runtime import exact_kronos
from migrator.runtime.exact_kronos import exact_auto_regressive_inference, exact_predictor_class
from migrator.runtime.kronos_bench import daily_frame, random_kronos

ExactKronosPredictor = exact_predictor_class(K.KronosPredictor)


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def inputs(context: int, pred_len: int, seed: int = 0, drift: float = 0.0):
    """The normalised tensors generate() hands auto_regressive_inference, batch 1."""
    frame, x_ts, y_ts = daily_frame(context, pred_len, seed, drift=drift)
    frame["amount"] = frame["volume"] * frame[["open", "high", "low", "close"]].mean(axis=1)
    x = frame[["open", "high", "low", "close", "volume", "amount"]].values.astype(np.float32)
    x = np.clip((x - x.mean(0)) / (x.std(0) + 1e-5), -5, 5)
    x_stamp = K.calc_time_stamps(x_ts).values.astype(np.float32)
    y_stamp = K.calc_time_stamps(y_ts).values.astype(np.float32)
    return tuple(torch.from_numpy(a[None]) for a in (x, x_stamp, y_stamp))


def run_recording(function, seed, *args):
    """function(*args) under torch.manual_seed(seed), with every torch.multinomial draw recorded."""
    draws = []
    original = torch.multinomial

    def recording(*a, **kw):
        out = original(*a, **kw)
        draws.append(out.clone())
        return out

    torch.manual_seed(seed)
    with mock.patch.object(torch, "multinomial", recording):
        result = function(*args)
    return result, draws


def call_args(model, tokenizer, tensors, max_context, pred_len, samples, T=1.0, top_k=0, top_p=0.9):
    x, x_stamp, y_stamp = tensors
    return (tokenizer, model, x, x_stamp, y_stamp, max_context, pred_len, 5, T, top_k, top_p, samples)


@pytest.mark.parametrize("shape, biases, context, samples, seeds", [
    ("mini", False, 24, 4, 20),
    ("mini", True, 24, 4, 20),
    ("small", True, 16, 3, 20),
])
def test_same_tokens_as_the_real_code_for_a_seed(shape, biases, context, samples, seeds):
    model, tokenizer = random_kronos(K, shape, seed=1, random_biases=biases)
    tensors = inputs(context, 4, seed=2)
    args = call_args(model, tokenizer, tensors, context, 4, samples)  # lookback = max_context: it slides
    same, worst = 0, 0.0
    for seed in range(seeds):
        real, real_draws = run_recording(K.auto_regressive_inference, seed, *args)
        exact, exact_draws = run_recording(exact_auto_regressive_inference, seed, *args)
        assert [d.shape for d in exact_draws] == [d.shape for d in real_draws]  # same calls, same shapes
        if all(torch.equal(a, b) for a, b in zip(real_draws, exact_draws)):
            same += 1
            worst = max(worst, float(np.abs(real - exact).max()))
    assert same >= 0.95 * seeds
    assert worst < 1e-4  # the same tokens decode to the same predictions


def test_a_growing_then_sliding_window_and_a_longer_context_draw_the_same_tokens():
    model, tokenizer = random_kronos(K, "tiny", seed=3, random_biases=True)
    for context, max_context in ((20, 22), (30, 24), (12, 40)):
        args = call_args(model, tokenizer, inputs(context, 5, seed=4), max_context, 5, 4)
        real, real_draws = run_recording(K.auto_regressive_inference, 7, *args)
        exact, exact_draws = run_recording(exact_auto_regressive_inference, 7, *args)
        assert all(torch.equal(a, b) for a, b in zip(real_draws, exact_draws))
        assert real.shape == exact.shape and exact.dtype == real.dtype
        np.testing.assert_allclose(exact, real, atol=1e-5)


def _final_predictions(function, model, tokenizer, tensors, seeds, T=1.0):
    args = call_args(model, tokenizer, tensors, tensors[0].shape[1], 3, 2, T=T)
    values = []
    for seed in seeds:
        torch.manual_seed(seed)
        values.append(function(*args)[0, -1, 3])  # the last step's close, as the backtest reads it
    return np.array(values)


def test_predictions_follow_the_real_distribution_over_300_seeds():
    model, tokenizer = random_kronos(K, "tiny", seed=5, random_biases=True)
    # Random heads give near-uniform token distributions, on which neither the temperature nor
    # the input shows; heads scaled up (confident, as a trained model is) make both matter.
    with torch.no_grad():
        model.head.proj_s1.weight.mul_(6.0)
        model.head.proj_s2.weight.mul_(6.0)
    tensors = inputs(16, 3, seed=6)
    real = _final_predictions(K.auto_regressive_inference, model, tokenizer, tensors, range(300))
    exact = _final_predictions(exact_auto_regressive_inference, model, tokenizer, tensors, range(1000, 1300))
    assert stats.ks_2samp(real, exact).pvalue > 0.001
    # Negative controls the same test must reject: another temperature, another input.
    hotter = _final_predictions(exact_auto_regressive_inference, model, tokenizer, tensors, range(2000, 2150), T=0.1)
    assert stats.ks_2samp(real, hotter).pvalue < 1e-4
    other = _final_predictions(exact_auto_regressive_inference, model, tokenizer, inputs(16, 3, seed=7, drift=-0.05),
                               range(3000, 3300))
    assert stats.ks_2samp(real, other).pvalue < 1e-4


def test_predict_and_predict_batch_match_the_real_predictor():
    model, tokenizer = random_kronos(K, "tiny", seed=8, random_biases=True)
    real = K.KronosPredictor(model, tokenizer, device="cpu", max_context=32)
    exact = ExactKronosPredictor(model, tokenizer, device="cpu", max_context=32)
    frame, x_ts, y_ts = daily_frame(32, 7, seed=9)
    kwargs = dict(pred_len=7, T=1.0, top_k=0, top_p=0.9, sample_count=6, verbose=False)
    torch.manual_seed(11)
    expected = real.predict(frame, x_ts, y_ts, **kwargs)
    torch.manual_seed(11)
    got = exact.predict(frame, x_ts, y_ts, **kwargs)
    assert list(got.columns) == list(expected.columns) and got.index.equals(expected.index)
    assert (got.dtypes == expected.dtypes).all()
    pd.testing.assert_frame_equal(got, expected, rtol=1e-5)
    assert exact.exact_stats.calls == 1 and exact.exact_stats.fallback_calls == 0

    other, ox, oy = daily_frame(32, 7, seed=10)
    torch.manual_seed(12)
    expected = real.predict_batch([frame, other], [x_ts, ox], [y_ts, oy], **kwargs)
    torch.manual_seed(12)
    got = exact.predict_batch([frame, other], [x_ts, ox], [y_ts, oy], **kwargs)
    for a, b in zip(got, expected):
        pd.testing.assert_frame_equal(a, b, rtol=1e-5)
    assert exact.exact_stats.fallback_calls == 0


def test_each_call_draws_its_own_paths_unless_shared_is_asked_for():
    model, tokenizer = random_kronos(K, "tiny", seed=13)
    frame, x_ts, y_ts = daily_frame(24, 7, seed=14)
    kwargs = dict(pred_len=7, T=1.0, top_k=0, top_p=0.9, sample_count=4, verbose=False)
    plain = ExactKronosPredictor(model, tokenizer, device="cpu", max_context=24)
    torch.manual_seed(0)
    first, second = plain.predict(frame, x_ts, y_ts, **kwargs), plain.predict(frame, x_ts, y_ts, **kwargs)
    assert not first.equals(second)
    shared = exact_predictor_class(K.KronosPredictor, shared=True)(model, tokenizer, device="cpu", max_context=24)
    torch.manual_seed(0)
    first, second = shared.predict(frame, x_ts, y_ts, **kwargs), shared.predict(frame, x_ts, y_ts, **kwargs)
    pd.testing.assert_frame_equal(first, second)
    assert shared.exact_stats.memo_hits == 1
    third = shared.predict(frame, x_ts, y_ts, **{**kwargs, "T": 0.5})  # other parameters: drawn afresh
    assert not third.equals(first)


def _sampler_variant(folder) -> types.ModuleType:
    """A copy of the real kronos module (a file of its own, so its source can be read) whose s2
    draw takes the most likely token (sample_logits=False): another sampler, not to be imitated."""
    source = open(K.__file__).read().replace("from .module import *",
                                             "from kronos_finance._vendor.kronos_model.module import *")
    real_call = "sample_from_logits(s2_logits, temperature=T, top_k=top_k, top_p=top_p, sample_logits=True)"
    assert real_call in source
    path = folder / "kronos_variant.py"
    path.write_text(source.replace(real_call, real_call.replace("sample_logits=True", "sample_logits=False")))
    spec = importlib.util.spec_from_file_location("kronos_variant", path)
    variant = importlib.util.module_from_spec(spec)
    sys.modules["kronos_variant"] = variant
    spec.loader.exec_module(variant)
    return variant


def _noncausal(model):
    """The predictor's first block attends to later tokens (is_causal=False): not Kronos."""
    attn = model.transformer[0].self_attn

    def forward(self, x, key_padding_mask=None):
        b, t, _ = x.shape
        q, k, v = (p(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        q, k = self.rotary(q, k)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=False)
        return self.out_proj(out.transpose(1, 2).contiguous().view(b, t, self.d_model))

    attn.forward = types.MethodType(forward, attn)
    return model


class _OwnGenerate(K.KronosPredictor):
    """A user's predictor whose generate draws twice the paths: its own code must run."""

    def generate(self, x, x_stamp, y_stamp, pred_len, T, top_k, top_p, sample_count, verbose):
        return super().generate(x, x_stamp, y_stamp, pred_len, T, top_k, top_p, 2 * sample_count, verbose)


FALLBACKS = {
    "another generate": lambda folder: (types.SimpleNamespace(KronosPredictor=_OwnGenerate, Kronos=K.Kronos,
                                                              KronosTokenizer=K.KronosTokenizer), {}),
    "another sampler": lambda folder: (_sampler_variant(folder), {}),
    "a non-causal model": lambda folder: (K, {"model": "noncausal"}),
    "a model in training mode": lambda folder: (K, {"model": "train"}),
    "unknown keyword arguments": lambda folder: (K, {"kwargs": {"cfg": 1}}),
}


@pytest.mark.parametrize("case", sorted(FALLBACKS))
def test_every_fallback_is_the_real_code_bit_for_bit(case, tmp_path):
    module, how = FALLBACKS[case](tmp_path)
    model, tokenizer = random_kronos(module, "tiny", seed=15, random_biases=True)
    if how.get("model") == "noncausal":
        model = _noncausal(model)
    if how.get("model") == "train":
        model.train()
    real = module.KronosPredictor(model, tokenizer, device="cpu", max_context=20)
    exact = exact_predictor_class(module.KronosPredictor)(model, tokenizer, device="cpu", max_context=20)
    x, x_stamp, y_stamp = (t.numpy() for t in inputs(20, 7, seed=16))
    extra = how.get("kwargs", {})
    outcomes = []
    for predictor in (real, exact):
        torch.manual_seed(17)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcomes.append(predictor.generate(x, x_stamp, y_stamp, 7, 1.0, 0, 0.9, 4, False, **extra))
        except TypeError as error:
            outcomes.append(str(error).split("() ")[-1])
    if isinstance(outcomes[0], str):
        assert outcomes[0] == outcomes[1]
    else:
        assert outcomes[1].dtype == outcomes[0].dtype and np.array_equal(outcomes[0], outcomes[1])
    assert exact.exact_stats.fallback_calls == 1


def test_the_fallback_warns_once_with_its_reason():
    model, tokenizer = random_kronos(K, "tiny", seed=18)
    exact = ExactKronosPredictor(model.train(), tokenizer, device="cpu", max_context=16)
    x, x_stamp, y_stamp = (t.numpy() for t in inputs(16, 3, seed=19))
    exact_kronos._WARNED.discard("a model in training mode (dropout)")
    with pytest.warns(RuntimeWarning, match="training mode"):
        exact.generate(x, x_stamp, y_stamp, 3, 1.0, 0, 0.9, 2, False)
    assert exact.exact_stats.fallback_reasons == {"a model in training mode (dropout)": 1}


def test_classes_it_does_not_recognise_are_refused():
    with pytest.raises(TypeError):
        exact_predictor_class(object)
    with pytest.raises(TypeError):
        exact_predictor_class(K.KronosPredictor(*random_kronos(K, "tiny"), device="cpu"))

    class Lookalike:
        def predict(self): ...
        def predict_batch(self): ...
        def generate(self): ...

    with pytest.raises(ValueError):
        exact_predictor_class(Lookalike)


def test_it_never_moves_the_model_and_a_dtype_the_real_code_refuses_fails_the_same_way():
    model, tokenizer = random_kronos(K, "tiny", seed=20)
    before = [(p.data_ptr(), p.dtype, p.device) for p in model.parameters()]
    x, x_stamp, y_stamp = inputs(16, 3, seed=21)
    exact_auto_regressive_inference(tokenizer, model, x, x_stamp, y_stamp, 16, 3, 5, 1.0, 0, 0.9, 3)
    assert [(p.data_ptr(), p.dtype, p.device) for p in model.parameters()] == before
    # Kronos's indices_to_bits makes float32 bits whatever the tokenizer's dtype: the real code
    # fails on a float64 model, and so does the drop-in (it runs the real code there).
    model, tokenizer = model.double(), tokenizer.double()
    args = (tokenizer, model, x.double(), x_stamp.double(), y_stamp.double(), 16, 3, 5, 1.0, 0, 0.9, 3)
    errors = []
    for function in (K.auto_regressive_inference, exact_auto_regressive_inference):
        with pytest.raises(RuntimeError) as caught, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            function(*args)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_on_cuda_the_same_tokens_as_the_real_code():
    model, tokenizer = random_kronos(K, "mini", seed=22, random_biases=True)
    model, tokenizer = model.cuda(), tokenizer.cuda()
    x, x_stamp, y_stamp = (t.cuda() for t in inputs(32, 7, seed=23))
    args = (tokenizer, model, x, x_stamp, y_stamp, 32, 7, 5, 1.0, 0, 0.9, 16)
    same = 0
    for seed in range(20):
        _, real_draws = run_recording(K.auto_regressive_inference, seed, *args)
        _, exact_draws = run_recording(exact_auto_regressive_inference, seed, *args)
        same += all(torch.equal(a, b) for a, b in zip(real_draws, exact_draws))
    assert same >= 19
    assert all(p.device.type == "cuda" for p in model.parameters())


def test_shared_paths_are_not_reused_once_the_weights_change():
    model, tokenizer = random_kronos(K, "tiny", seed=24)
    shared = exact_predictor_class(K.KronosPredictor, shared=True)(model, tokenizer, device="cpu", max_context=24)
    frame, x_ts, y_ts = daily_frame(24, 7, seed=25)
    kwargs = dict(pred_len=7, T=1.0, top_k=0, top_p=0.9, sample_count=4, verbose=False)
    first = shared.predict(frame, x_ts, y_ts, **kwargs)
    with torch.no_grad():
        model.head.proj_s1.weight.mul_(3.0)
    second = shared.predict(frame, x_ts, y_ts, **kwargs)
    assert shared.exact_stats.memo_hits == 0 and not first.equals(second)
