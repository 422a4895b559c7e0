"""Library warnings are fixed where they arise, or filtered beside the call with the reason:
registering the Feast declarations, logging the model to MLflow and the Evidently
performance report on an ordinary day say nothing but their own lines."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
from scratch import ROOT

LOG_MODEL = """
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from newsrec.adapters.mlflow import Registry
from newsrec.features.spec import MODEL_FEATURES
from newsrec.model import SKOPS_TRUSTED

rng = np.random.default_rng(0)
x = pd.DataFrame(rng.random((200, len(MODEL_FEATURES))), columns=MODEL_FEATURES)
model = HistGradientBoostingClassifier(max_iter=5).fit(x.to_numpy(), (x.iloc[:, 0] > 0.5).astype(int))
with Registry.connect(Path(sys.argv[1]), "quiet", "quiet-ranker").run() as run:
    run.sklearn_model(model, x.head(5), {}, SKOPS_TRUSTED)
print("logged")
"""


APPLY = """
import sys
from pathlib import Path

from newsrec.adapters.feast import FeatureStore

FeatureStore(Path(sys.argv[1]), Path(sys.argv[2]), aside=True).apply()
print("applied")
"""


def quiet_run(code: str, *args: str) -> str:
    """`code` in a fresh interpreter with Python's own warning filters, as a stage runs; its stderr."""
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and res.stdout.strip(), res.stderr[-3000:]
    return res.stderr


def test_logging_the_model_warns_nothing(tmp_path):
    """As `newsrec train` logs it: no sklearn feature-name warning, no pip warning."""
    err = quiet_run(LOG_MODEL, str(tmp_path / "mlruns"))
    assert "Warning" not in err and "WARNING" not in err, err[-3000:]


def test_registering_the_feast_declarations_warns_nothing(tmp_path):
    """As `newsrec feast` applies them: typed entities, the on-demand view's notice filtered."""
    err = quiet_run(APPLY, str(ROOT / "feature_repo"), str(tmp_path / "feast"))
    assert "Warning" not in err, err[-3000:]


def test_the_performance_report_warns_nothing_when_no_click_probability_reaches_one_half():
    """Click probabilities of a day rarely reach 0.5: nothing is undefined, and the AUC is sklearn's."""
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import roc_auc_score

    from monitoring.reports import performance_report

    rng = np.random.default_rng(0)

    def day(n: int) -> pd.DataFrame:
        p = rng.uniform(0.01, 0.4, n)
        return pd.DataFrame({"engagement": p, "clicked": (rng.random(n) < p).astype(float)})

    reference, current = day(2_000), day(2_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        snapshot = performance_report(reference, current)
    undefined = [str(w.message) for w in caught if issubclass(w.category, (UndefinedMetricWarning, RuntimeWarning))]
    assert not undefined, undefined
    (auc,) = [m["value"] for m in snapshot.dict()["metrics"]]
    assert abs(auc - roc_auc_score(current["clicked"], current["engagement"])) < 1e-9
