"""The real Kronos (the user's own module) at the release shapes, with seeded random weights, and
the backtest's Kronos call: what the exact-Kronos tests, benchmarks and `migrate profile --backend
kronos` run.

    from kronos_finance._vendor.kronos_model import kronos as K
    model, tokenizer = random_kronos(K, "small")
    frame, x_ts, y_ts = daily_frame(512, 7)

Imports torch, numpy and pandas; Kronos's classes come from the module it is given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

# Predictor shapes (d_model / layers / heads / feed-forward) of Kronos-mini, -small and -base, and
# "tiny" (not a release: small enough for CI). The tokenizer's n_*_layers follow Kronos's
# convention (it builds n - 1 blocks): 4 gives Tokenizer-base's 3 encoder and 3 decoder blocks.
PREDICTORS = {
    "tiny": dict(d_model=64, n_layers=2, n_heads=4, ff_dim=128),
    "mini": dict(d_model=256, n_layers=4, n_heads=4, ff_dim=512),
    "small": dict(d_model=512, n_layers=8, n_heads=8, ff_dim=1024),
    "base": dict(d_model=832, n_layers=12, n_heads=16, ff_dim=2048),
}
TOKENIZERS = {
    "tiny": dict(d_model=32, n_heads=2, ff_dim=64, n_enc_layers=2, n_dec_layers=2),
    "base": dict(d_model=256, n_heads=4, ff_dim=512, n_enc_layers=4, n_dec_layers=4),
}


def tokenizer_kwargs(name: str) -> dict:
    shape = TOKENIZERS["tiny" if name == "tiny" else "base"]
    return dict(d_in=6, **shape, ffn_dropout_p=0.0, attn_dropout_p=0.0, resid_dropout_p=0.0, s1_bits=10, s2_bits=10,
                beta=0.05, gamma0=1.0, gamma=1.1, zeta=0.05, group_size=4)


def predictor_kwargs(name: str) -> dict:
    return dict(s1_bits=10, s2_bits=10, **PREDICTORS[name], ffn_dropout_p=0.0, attn_dropout_p=0.0,
                resid_dropout_p=0.0, token_dropout_p=0.0, learn_te=True)


def random_kronos(module: Any, name: str, seed: int = 0, *, random_biases: bool = False) -> tuple[Any, Any]:
    """(Kronos, KronosTokenizer) of `module` at shape `name`, seeded, in eval mode, as the classes
    initialise them (Kronos zeroes its Linear biases; random_biases=True draws them as a trained
    checkpoint has them, so the attention biases matter). Does not touch the global RNG."""
    if name not in PREDICTORS:
        raise ValueError(f"unknown Kronos shape {name!r}; choose one of {', '.join(PREDICTORS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tokenizer = module.KronosTokenizer(**tokenizer_kwargs(name))
        model = module.Kronos(**predictor_kwargs(name))
        if random_biases:
            for layer in list(model.modules()) + list(tokenizer.modules()):
                if isinstance(layer, torch.nn.Linear) and layer.bias is not None:
                    torch.nn.init.normal_(layer.bias, std=0.1)
    return model.eval(), tokenizer.eval()


def daily_frame(context: int, pred_len: int, seed: int = 0, *, drift: float = 0.0
                ) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """`context` daily OHLCV bars (a seeded random walk) and the timestamps of the bars and of
    the pred_len bars after them, as the backtest hands them to KronosPredictor.predict."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(drift, 0.02, context)))
    open_ = close * np.exp(rng.normal(0.0, 0.005, context))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, context)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, context)))
    volume = rng.lognormal(12.0, 0.3, context)
    stamps = pd.date_range("2021-01-04", periods=context + pred_len, freq="D")
    frame = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume})
    return frame, pd.Series(stamps[:context]), pd.Series(stamps[context:])


@dataclass(frozen=True)
class KronosCallShape:
    model: str = "small"
    samples: int = 320
    context: int = 512
    pred_len: int = 7
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.9


def forwards_and_tokens(shape: KronosCallShape) -> dict[str, dict[str, float]]:
    """Predictor forwards per call and tokens per forward (the work a GPU sees), real vs exact,
    counted from the procedure (lookback = max_context: the window slides from the first step)."""
    n, s, steps = shape.context, shape.samples, shape.pred_len
    real_tokens = steps * s * n
    shared = sum(n - i for i in range(steps))  # each step's shared window, batch 1
    own = s * sum(range(steps))  # each path's generated tokens still in the window
    return {
        "real": {"forwards": steps, "tokens_per_forward": s * n, "tokens": real_tokens},
        "exact": {"forwards": 2 * steps - 1, "tokens_per_forward": (shared + own) / (2 * steps - 1),
                  "tokens": shared + own},
    }


def time_predict(predictor: Any, frame: pd.DataFrame, x_ts: pd.Series, y_ts: pd.Series, shape: KronosCallShape,
                 seed: int = 0) -> tuple[float, pd.DataFrame]:
    """Seconds of one predict() call as the backtest makes it, and its result."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    result = predictor.predict(frame, x_ts, y_ts, pred_len=shape.pred_len, T=shape.temperature, top_k=shape.top_k,
                               top_p=shape.top_p, sample_count=shape.samples, verbose=False)
    return time.perf_counter() - start, result
