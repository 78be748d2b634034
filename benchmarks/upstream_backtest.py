"""The headline measurement: upstream's own backtest, as it is, against the same tree after
`migrate apply` with the exact runtimes switched on.

    python benchmarks/upstream_backtest.py --upstream PATH/TO/stock-prediction \
        --hyperparams PATH/TO/hyperparams --symbol AAPL --sims 2

PATH/TO/stock-prediction is a checkout of the real project (its backtest_test3_inline.py and
the modules it imports); --hyperparams its hyperparams tree (best/, kronos/, toto/). Both are
copied into a temporary folder; nothing is written where they are.

What `backtest_forecasts(symbol, N)` needs beyond the project's own files is stood in for,
and nothing else: the market data (`data_curate_daily`: seeded synthetic daily bars), the
broker CLI (`scripts.alpaca_cli`), the checkpoints (`from_pretrained` cannot download here:
Toto and Kronos get seeded random weights of the shapes below), Kronos's model package
(upstream keeps a clone at external/kronos; `kronos-finance` ships the same code), tensorboard
(the writer only logs), and `evaluate_and_save_close_policy` (a second, separate study).

Two runs in fresh processes, one after the other, each in its own copy of the tree:
1. the project as it is;
2. the copy after `migrate apply`, with MARKETSIM_EXACT_TOTO=1 and MARKETSIM_EXACT_KRONOS=1.
Each run records the time inside TotoPipeline.predict and KronosForecastingWrapper.predict_series
(with their call counts) and the whole backtest_forecasts call, and saves the result frame.
The report gives each ratio and compares the frames: the same columns and dtypes, and the
forecast-driven values within sampling noise (runs 1 and 1b: the original code with two seeds
gives the scale of that noise, with --noise-run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

DATA_STANDIN = '''
"""Stand-in for upstream's data_curate_daily: seeded synthetic daily bars, no network."""
import numpy as np
import pandas as pd


def download_daily_stock_data(current_time=None, symbols=None, *args, **kwargs):
    rows = int(__import__("os").environ.get("HEADLINE_BARS", "1008"))
    rng = np.random.default_rng(int(__import__("os").environ.get("HEADLINE_DATA_SEED", "7")))
    returns = rng.standard_t(4, rows) * 0.012 + 0.0003
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = close * np.exp(rng.normal(0, 0.004, rows))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.008, rows)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.008, rows)))
    volume = rng.lognormal(15, 0.4, rows)
    stamps = pd.bdate_range("2020-09-01", periods=rows, tz="UTC")
    frame = pd.DataFrame({"timestamp": stamps, "Open": open_, "High": high, "Low": low,
                          "Close": close, "Volume": volume})
    frame["symbol"] = (symbols or ["AAPL"])[0]
    return frame


def fetch_spread(symbol):
    return 1.00087
'''

ALPACA_STANDIN = '''
"""Stand-in for upstream's broker CLI: the backtest only records a strategy name."""


def set_strategy_for_symbol(symbol, strategy):
    return None
'''

KRONOS_ALIAS = '''
"""Upstream imports Kronos from its clone at external/kronos; kronos-finance ships the same code.

The GPU stand-in: upstream's wrapper hands KronosPredictor "cuda:0"; here it runs on the CPU."""
from kronos_finance._vendor.kronos_model import *  # noqa: F401,F403
from kronos_finance._vendor.kronos_model import Kronos, KronosPredictor, KronosTokenizer  # noqa: F401

if not getattr(KronosPredictor.__init__, "_on_cpu", False):
    _init = KronosPredictor.__init__

    def _init_on_cpu(self, model, tokenizer, device=None, max_context=512, clip=5):
        _init(self, model, tokenizer, "cpu", max_context, clip)

    _init_on_cpu._on_cpu = True
    KronosPredictor.__init__ = _init_on_cpu
'''

TENSORBOARD_STANDIN = '''
"""Stand-in for torch.utils.tensorboard: the backtest's writer only logs scalars."""


class SummaryWriter:
    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
'''

# Runs inside each backtest process (PYTHONPATH): checkpoints become seeded random weights.
SITECUSTOMIZE = '''
import os
import sys
import types

import torch

_standin = types.ModuleType("torch.utils.tensorboard")
exec(open(os.path.join(os.path.dirname(__file__), "tensorboard_standin.py")).read(), _standin.__dict__)
sys.modules["torch.utils.tensorboard"] = _standin

from migrator.runtime.bench import BASE_CONFIG  # Toto-Open-Base-1.0's config

# A small Toto of the real architecture (the base shape with --toto-size base).
TOTO_SHAPE = dict(BASE_CONFIG, dropout=0.0, use_memory_efficient_attention=False) \
    if os.environ.get("HEADLINE_TOTO_SIZE") == "base" else \
    dict(BASE_CONFIG, embed_dim=256, num_layers=4, num_heads=4, mlp_hidden_dim=512, spacewise_every_n_layers=4,
         dropout=0.0, use_memory_efficient_attention=False)

def _seeded(seed, build, random_biases=False):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
        if random_biases:  # as a trained checkpoint has them (Kronos initialises them to zero)
            for layer in model.modules():
                if isinstance(layer, torch.nn.Linear) and layer.bias is not None:
                    torch.nn.init.normal_(layer.bias, std=0.1)
        return model.eval()


def _patch_toto():
    from toto.model.toto import Toto

    def from_pretrained(cls, *args, **kwargs):
        return _seeded(11, lambda: cls(**TOTO_SHAPE))

    Toto.from_pretrained = classmethod(from_pretrained)


def _patch_kronos():
    from kronos_finance._vendor.kronos_model import Kronos, KronosTokenizer
    from migrator.runtime.kronos_bench import predictor_kwargs, tokenizer_kwargs
    size = os.environ.get("HEADLINE_KRONOS_SIZE", "small")

    def model(cls, *args, **kwargs):
        return _seeded(12, lambda: cls(**predictor_kwargs(size)), random_biases=True)

    def tokenizer(cls, *args, **kwargs):
        return _seeded(13, lambda: cls(**tokenizer_kwargs(size)), random_biases=True)

    Kronos.from_pretrained = classmethod(model)
    KronosTokenizer.from_pretrained = classmethod(tokenizer)


_patch_toto()
_patch_kronos()
'''

RUNNER = '''
import json
import os
import sys
import time

import numpy as np
import torch

project, out = sys.argv[1], sys.argv[2]
symbol, sims, seed = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
os.chdir(project)
sys.path.insert(0, project)
torch.set_num_threads(int(os.environ.get("HEADLINE_THREADS", "1")))

import types  # noqa: E402

import backtest_test3_inline as backtest  # noqa: E402
import src.models.kronos_wrapper as kronos_wrapper  # noqa: E402
from src.models.kronos_wrapper import KronosForecastingWrapper  # noqa: E402
from src.models.toto_wrapper import TotoPipeline  # noqa: E402

# The GPU stand-in. Upstream runs Kronos only on CUDA (Toto has a CPU fallback): its wrapper
# checks torch.cuda.is_available() and the backtest refuses Kronos without CUDA. The wrapper
# sees a CUDA that exists but has no bf16 (so fp32, as on CPU); KronosPredictor runs on the CPU.


class _CudaView:
    is_available = staticmethod(lambda: True)
    is_bf16_supported = staticmethod(lambda: False)

    def __getattr__(self, name):
        return getattr(torch.cuda, name)


class _TorchView(types.ModuleType):
    cuda = _CudaView()

    def __getattr__(self, name):
        return getattr(torch, name)


kronos_wrapper.torch = _TorchView("torch")
_require_cuda = backtest._require_cuda
backtest._require_cuda = lambda feature, *, symbol=None, allow_cpu_fallback=True: _require_cuda(
    feature, symbol=symbol, allow_cpu_fallback=True)

timings = {"toto": [0.0, 0], "kronos": [0.0, 0]}
classes = {"toto": set(), "kronos": set()}  # what really ran: the exact classes, or the originals
RUNTIME_OF = {"toto": lambda pipeline: pipeline.forecaster, "kronos": lambda wrapper: wrapper._predictor}


def timed(cls, name, family):
    original = getattr(cls, name)

    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            timings[family][0] += time.perf_counter() - start
            timings[family][1] += 1
            classes[family].add(type(RUNTIME_OF[family](self)).__name__)

    setattr(cls, name, wrapper)


timed(TotoPipeline, "predict", "toto")
timed(KronosForecastingWrapper, "predict_series", "kronos")
backtest.evaluate_and_save_close_policy = lambda *args, **kwargs: None  # a second, separate study

torch.manual_seed(seed)
np.random.seed(seed)
start = time.perf_counter()
frame = backtest.backtest_forecasts(symbol, sims)
total = time.perf_counter() - start
frame.to_pickle(os.path.join(out, "frame.pkl"))
json.dump({"total_s": total, "toto_s": timings["toto"][0], "toto_calls": timings["toto"][1],
           "kronos_s": timings["kronos"][0], "kronos_calls": timings["kronos"][1],
           "toto_class": sorted(classes["toto"]), "kronos_class": sorted(classes["kronos"]),
           "rows": len(frame), "columns": list(map(str, frame.columns))},
          open(os.path.join(out, "timings.json"), "w"), indent=2)
'''


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def make_standins(folder: Path) -> None:
    _write(folder / "data_curate_daily.py", DATA_STANDIN)
    _write(folder / "scripts" / "__init__.py", "")
    _write(folder / "scripts" / "alpaca_cli.py", ALPACA_STANDIN)
    _write(folder / "external" / "__init__.py", "")
    _write(folder / "external" / "kronos" / "__init__.py", "")
    _write(folder / "external" / "kronos" / "model" / "__init__.py", KRONOS_ALIAS)
    _write(folder / "tensorboard_standin.py", TENSORBOARD_STANDIN)
    _write(folder / "sitecustomize.py", SITECUSTOMIZE)
    _write(folder / "run_backtest.py", RUNNER)


def copy_project(upstream: Path, hyperparams: Path, target: Path) -> Path:
    shutil.copytree(upstream, target, ignore=shutil.ignore_patterns(".git", ".cache", "__pycache__"))
    if (target / "hyperparams").exists():
        shutil.rmtree(target / "hyperparams")
    shutil.copytree(hyperparams, target / "hyperparams")
    return target


def run_backtest(project: Path, standins: Path, out: Path, args: argparse.Namespace,
                 extra_env: dict[str, str], seed: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(standins), os.environ.get("PYTHONPATH", "")]),
           "MARKETSIM_ALLOW_CPU_FALLBACK": "1", "TOTO_DISABLE_COMPILE": "1", "HF_HUB_OFFLINE": "1",
           "HEADLINE_KRONOS_SIZE": args.kronos_size,
           "HEADLINE_TOTO_SIZE": args.toto_size, "HEADLINE_THREADS": str(args.threads), **extra_env}
    for name in ("MARKETSIM_EXACT_TOTO", "MARKETSIM_EXACT_KRONOS"):
        if name not in extra_env:
            env.pop(name, None)
    log = open(out / "backtest.log", "w")
    done = subprocess.run([sys.executable, str(standins / "run_backtest.py"), str(project), str(out),
                           args.symbol, str(args.sims), str(seed)], env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"the backtest failed (exit {done.returncode}); see {out / 'backtest.log'}")
    return json.loads((out / "timings.json").read_text())


def compare_frames(before: Path, after: Path, noise: Path | None) -> dict:
    import numpy as np
    import pandas as pd

    a, b = pd.read_pickle(before), pd.read_pickle(after)
    report = {"same_columns": list(a.columns) == list(b.columns),
              "same_dtypes": bool((a.dtypes == b.dtypes).all()) if list(a.columns) == list(b.columns) else False,
              "rows": [len(a), len(b)]}
    numeric = [c for c in a.columns if c in b.columns and pd.api.types.is_numeric_dtype(a[c])]
    diffs = {c: float(np.nanmax(np.abs(a[c].to_numpy(float) - b[c].to_numpy(float)))) for c in numeric}
    report["identical_columns"] = sum(1 for v in diffs.values() if v == 0.0)
    report["numeric_columns"] = len(numeric)
    if noise is not None:
        n = pd.read_pickle(noise)
        scale = {c: float(np.nanmax(np.abs(a[c].to_numpy(float) - n[c].to_numpy(float)))) for c in numeric}
        # A column is within sampling noise when the exact run differs from the original no more
        # than a second run of the original code with another seed does (x3 for a small sample).
        outside = {c: (diffs[c], scale[c]) for c in numeric if diffs[c] > 3 * scale[c] + 1e-12}
        report["outside_noise"] = outside
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", type=Path, required=True)
    parser.add_argument("--hyperparams", type=Path, required=True)
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--sims", type=int, default=2)
    parser.add_argument("--kronos-size", choices=["mini", "small", "base"], default="small")
    parser.add_argument("--toto-size", choices=["small", "base"], default="small")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--noise-run", action="store_true", help="also run the original with another seed")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs' frames and logs here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="migrate-headline-"))
    out = args.out or work / "out"
    standins = work / "standins"
    make_standins(standins)
    original = copy_project(args.upstream, args.hyperparams, work / "original")
    patched = copy_project(args.upstream, args.hyperparams, work / "patched")
    applied = subprocess.run([sys.executable, "-m", "migrator", "apply", "--root", str(patched), "--json"],
                             capture_output=True, text=True)
    if applied.returncode != 0:
        raise SystemExit(f"migrate apply failed: {applied.stderr.strip()}")
    changed = [f["path"] for f in json.loads(applied.stdout).get("files", []) if f.get("changed")]

    runs = {"original": run_backtest(original, standins, out / "original", args, {}, seed=1)}
    if args.noise_run:
        noise_copy = copy_project(args.upstream, args.hyperparams, work / "original_b")
        runs["original_seed2"] = run_backtest(noise_copy, standins, out / "original_seed2", args, {}, seed=2)
    runs["exact"] = run_backtest(patched, standins, out / "exact", args,
                                 {"MARKETSIM_EXACT_TOTO": "1", "MARKETSIM_EXACT_KRONOS": "1"}, seed=1)
    before, after = runs["original"], runs["exact"]
    # The backtest swallows a failing forecaster and carries on without it: a run that made no
    # Toto or no Kronos call measured something else.
    for name, run in runs.items():
        if not (run["toto_calls"] and run["kronos_calls"]):
            raise SystemExit(f"the {name} run made {run['toto_calls']} Toto and {run['kronos_calls']} "
                             f"Kronos calls; see {out / name / 'backtest.log'}")
    report = {
        "symbol": args.symbol, "sims": args.sims, "kronos_size": args.kronos_size, "threads": args.threads,
        "patched_files": changed, "runs": runs,
        "speedup": {name: before[f"{name}_s"] / after[f"{name}_s"] if after[f"{name}_s"] else None
                    for name in ("total", "toto", "kronos")},
        "frames": compare_frames(out / "original" / "frame.pkl", out / "exact" / "frame.pkl",
                                 out / "original_seed2" / "frame.pkl" if args.noise_run else None),
    }
    print(json.dumps(report, indent=2))
    if args.out is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
