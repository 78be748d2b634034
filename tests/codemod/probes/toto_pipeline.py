"""Run in a subprocess by test_upstream.py: build upstream's TotoPipeline from TREE and report.

argv: TREE. Prints one JSON line: the forecaster's class, whether migrate's factory made it,
the warnings logged, and a seeded forecast. Stand-in (as upstream's own loader would download
the weights): a seeded, randomly initialised small Toto of toto-ts's own architecture.
"""

import json
import sys

from probe_setup import start  # beside this script: sys.path[0]

tree = sys.argv[1]
warnings = start(tree)

import torch  # noqa: E402
from toto.inference.forecaster import TotoForecaster  # noqa: E402
from toto.model.toto import Toto  # noqa: E402

made: list[type] = []
try:  # record what the patched module's block gets from migrate (it imports it at that time)
    import migrator.runtime.exact_toto as runtime

    factory = runtime.exact_forecaster_class

    def recording(cls: type, **kwargs: object) -> type:
        made.append(factory(cls, **kwargs))
        return made[-1]

    runtime.exact_forecaster_class = recording  # type: ignore[assignment]
except ImportError:
    pass

torch.manual_seed(0)
model = Toto(patch_size=64, stride=64, embed_dim=64, num_layers=2, num_heads=4, mlp_hidden_dim=128,
             dropout=0.0, spacewise_every_n_layers=2,
             scaler_cls="<class 'model.scaler.CausalPatchStdMeanScaler'>",
             output_distribution_classes=["<class 'model.distribution.MixtureOfStudentTsOutput'>"],
             output_distribution_kwargs={"k_components": 4}, use_memory_efficient_attention=False)
from src.models import toto_wrapper  # noqa: E402

pipeline = toto_wrapper.TotoPipeline(model, device="cpu", compile_model=False, amp_autocast=False)
cls = type(pipeline.forecaster)
torch.manual_seed(1)
forecasts = pipeline.predict([100.0 + (i % 7) for i in range(130)], prediction_length=1,
                             num_samples=8, samples_per_batch=8)
print(json.dumps({
    "class": f"{cls.__module__}.{cls.__qualname__}",
    "real": cls is TotoForecaster,
    "subclass": issubclass(cls, TotoForecaster),
    "made_by_migrate": cls in made,
    "warnings": warnings,
    "forecast": [f.samples.tolist() for f in forecasts],
}))
