"""Run in a subprocess by test_upstream.py: upstream's KronosForecastingWrapper._ensure_predictor
from TREE, on the real Kronos code, and report.

argv: TREE [--no-predict]. Prints one JSON line: the predictor's class, whether migrate's factory made it (and
with which keywords), the warnings logged, and a seeded prediction. Stand-ins: kronos-finance's vendored model code as
`external.kronos.model`, seeded random small weights for `from_pretrained` (it cannot download),
and, because the wrapper insists on CUDA, `torch.cuda.is_available` true and module moves to a
"cuda" device kept on the CPU; the prediction runs on the CPU.
"""

import json
import sys
import types

from probe_setup import start  # beside this script: sys.path[0]

tree = sys.argv[1]
warnings = start(tree)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import kronos_finance._vendor.kronos_model as kronos  # noqa: E402

for name in ("external", "external.kronos"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["external.kronos.model"] = kronos
torch.cuda.is_available = lambda: True
_module_to = torch.nn.Module.to


def _to_cpu(self, *args, **kwargs):
    args = tuple("cpu" if isinstance(a, str) and a.startswith("cuda") else a for a in args)
    if isinstance(kwargs.get("device"), str) and kwargs["device"].startswith("cuda"):
        kwargs["device"] = "cpu"
    return _module_to(self, *args, **kwargs)


torch.nn.Module.to = _to_cpu


def _tokenizer(*args, **kwargs):
    torch.manual_seed(0)
    return kronos.KronosTokenizer(d_in=6, d_model=32, n_heads=2, ff_dim=64, n_enc_layers=2,
                                  n_dec_layers=2, ffn_dropout_p=0.0, attn_dropout_p=0.0,
                                  resid_dropout_p=0.0, s1_bits=4, s2_bits=4, beta=0.05, gamma0=1.0,
                                  gamma=1.1, zeta=0.05, group_size=4)


def _model(*args, **kwargs):
    torch.manual_seed(1)
    return kronos.Kronos(s1_bits=4, s2_bits=4, n_layers=2, d_model=32, n_heads=2, ff_dim=64,
                         ffn_dropout_p=0.0, attn_dropout_p=0.0, resid_dropout_p=0.0,
                         token_dropout_p=0.0, learn_te=True)


kronos.KronosTokenizer.from_pretrained = staticmethod(_tokenizer)
kronos.Kronos.from_pretrained = staticmethod(_model)

made: list[tuple[type, dict]] = []
try:
    import migrator.runtime.exact_kronos as runtime

    factory = runtime.exact_predictor_class

    def recording(cls: type, **kwargs: object) -> type:
        made.append((factory(cls, **kwargs), kwargs))
        return made[-1][0]

    runtime.exact_predictor_class = recording  # type: ignore[assignment]
except ImportError:
    pass

from src.models import kronos_wrapper  # noqa: E402

wrapper = kronos_wrapper.KronosForecastingWrapper(model_name="m", tokenizer_name="t", device="cuda:0",
                                                  max_context=32, prefer_fp32=True)
predictor = wrapper._ensure_predictor()
cls = type(predictor)
report = {
    "class": f"{cls.__module__}.{cls.__qualname__}",
    "real": cls is kronos.KronosPredictor,
    "subclass": issubclass(cls, kronos.KronosPredictor),
    "made_by_migrate": [kwargs for made_cls, kwargs in made if made_cls is cls],
    "warnings": warnings,
}
if "--no-predict" in sys.argv:  # the wiring only: what the class computes is its own tests' business
    print(json.dumps(report))
    sys.exit(0)
predictor.device = "cpu"
rng = np.random.default_rng(0)
bars = 40
close = 100 + np.cumsum(rng.normal(0, 1, bars))
frame = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close,
                      "volume": 1000.0, "amount": 1000.0 * close})
stamps = pd.Series(pd.date_range("2024-01-01", periods=bars + 3, freq="D"))
torch.manual_seed(2)
prediction = predictor.predict(frame, stamps[:bars], stamps[bars:].reset_index(drop=True), pred_len=3,
                               T=1.0, top_k=0, top_p=0.9, sample_count=4, verbose=False)
print(json.dumps({**report, "warnings": warnings, "prediction": prediction.values.tolist()}))
