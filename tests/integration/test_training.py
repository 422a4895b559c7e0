"""The training chain in a scratch project: features -> Feast -> train -> evaluate -> gate,
the MLflow registry and its aliases, determinism, rollback, and a failed run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from scratch import METRIC_KEYS, assert_join_equals_feast, set_params, sh


@pytest.fixture(scope="module")
def project(trained_project) -> Path:
    return trained_project


def _json(proj: Path, name: str):
    return json.loads((proj / "reports" / name).read_text())


def _client(proj: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{proj / 'mlruns' / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{proj / 'mlruns' / 'mlflow.db'}")
    return mlflow.MlflowClient()


def test_metrics_shape_and_quality(project):
    m = _json(project, "metrics.json")
    assert set(m) == {"model", "popularity", "random", "quality", "oracle"}
    assert all(set(v) == METRIC_KEYS for v in m.values())
    assert m["oracle"]["ndcg@10"] > m["model"]["ndcg@10"] > m["popularity"]["ndcg@10"] > m["random"]["ndcg@10"]
    real = _json(project, "evaluate.json")["realised"]
    assert real["blend"]["true_quality@10"] > real["engagement"]["true_quality@10"]  # b = 0.8 buys quality
    assert real["engagement"]["true_ctr@10"] > real["blend"]["true_ctr@10"]  # at some engagement cost


def test_mlflow_run_and_registry(project):
    c = _client(project)
    t, pr = _json(project, "train.json"), _json(project, "promote.json")
    run = c.get_run(t["run_id"])
    assert run.info.status == "FINISHED"
    assert {"git_sha", "dvc.data/canonical", "dvc.data/features", "feature_service"} <= set(run.data.tags)
    assert run.data.tags["feature_service"] == "ranker_v1" and run.data.tags["dvc.data/features"].endswith(".dir")
    assert "train.learning_rate" in run.data.params and "valid_ndcg_at_10" in run.data.metrics
    assert "test.model.ndcg_at_10" in run.data.metrics and "test.oracle.auc" in run.data.metrics
    arts = {a.path for a in c.list_artifacts(t["run_id"], "plots")}
    assert {"plots/roc.png", "plots/calibration.png", "plots/importance.png", "plots/metrics.png"} <= arts
    assert "model_card.md" in {a.path for a in c.list_artifacts(t["run_id"])}
    mv = c.get_model_version_by_alias("newsrec-ranker", "challenger")
    assert str(mv.version) == t["version"] == "1" and mv.tags["gate.decision"] == (
        "promoted" if pr["promoted"] else "rejected"
    )
    from mlflow.models import Model

    model = Model.load(f"models:/newsrec-ranker/{mv.version}")
    assert model.signature is not None and model.saved_input_example_info is not None
    card = (project / "reports" / "model_card.md").read_text()
    for section in ("## Features", "## Metrics on the test days", "## Intended use and limits", "dvc.data/canonical"):
        assert section in card
    # the smaller configuration beside the full one: both measured, the full one registered
    conf = t["configurations"]
    assert set(conf) == {"full", "smaller"} and t["registered"] == "full" == run.data.tags["size.registered"]
    assert conf["full"]["overrides"] == {} and conf["smaller"]["overrides"] == {"max_iter": 50, "max_leaf_nodes": 15}
    assert {k: v for k, v in conf["full"].items() if k.startswith("valid_")} == t["metrics"]
    for name, c in conf.items():
        assert c["bytes"] > 0 and 0 < c["trees"] <= c["leaves"] and c["us_per_candidate"] > 0
        assert run.data.metrics[f"{name}.leaves"] == c["leaves"]
        assert run.data.metrics[f"{name}.valid_ndcg_at_10"] == pytest.approx(c["valid_ndcg@10"])
    assert conf["smaller"]["trees"] <= 50 and t["size_reasons"][-1] == "registered: full (train.prefer_smaller is off)"
    size = card[card.index("## Size and scoring cost") : card.index("## Parameters")]
    assert "| configuration | validation ndcg@10 | bytes | trees | leaves | µs per candidate |" in size
    assert f"| smaller (max_iter=50, max_leaf_nodes=15) | {conf['smaller']['valid_ndcg@10']:.4f} |" in size
    assert "**Registered:** the full configuration." in size and f"- {t['size_reasons'][0]}" in size


def test_packaging_measures_the_champion_as_served_and_notes_it_on_its_card(project, tmp_path):
    """`newsrec package`: the champion's scoring cost in package.json, as a version tag, and
    on its model card's size section (the file and the run's copy), once however often it runs."""
    import mlflow

    c, t = _client(project), _json(project, "train.json")
    for _ in range(2):
        sh(project, "newsrec", "package", "--no-build", BENTOML_HOME=str(tmp_path / "bentoml"))
    pkg = _json(project, "package.json")
    assert pkg["model_version"] == t["version"] == "1" and pkg["us_per_candidate"] > 0
    assert c.get_model_version("newsrec-ranker", "1").tags["cost.us_per_candidate"] == f"{pkg['us_per_candidate']:.2f}"
    card = (project / "reports" / "model_card.md").read_text()
    size = card[card.index("## Size and scoring cost") : card.index("## Parameters")]
    assert card.count("Measured at packaging:") == 1
    assert f"Measured at packaging: {pkg['us_per_candidate']:.2f} µs per candidate (v1 as served" in size
    assert mlflow.artifacts.load_text(f"runs:/{t['run_id']}/model_card.md") == card


def test_the_canvas_shows_the_projects_own_numbers_and_goes_to_the_champions_run(project):
    from newsrec.features.spec import VIEWS

    sh(project, "newsrec", "canvas")
    text = (project / "reports" / "canvas.md").read_text()
    sections = ["Value proposition", "Stakeholders", "Success criteria", "Data sources", "Prediction task"]
    sections += ["Features", "Offline evaluation", "Decisions", "Collecting data", "Live evaluation", "ML or not"]
    assert [line[3:] for line in text.splitlines() if line.startswith("## ")] == sections
    m, pr = _json(project, "metrics.json"), _json(project, "promote.json")
    assert f"| model | {m['model']['auc']:.4f} | {m['model']['mrr']:.4f} |" in text
    assert f"nDCG@10 over popularity-only: {m['model']['ndcg@10'] - m['popularity']['ndcg@10']:+.4f}" in text
    for v in VIEWS:  # the features as the FeatureService registered in Feast declares them
        assert f"| `{v.name}` | " + ", ".join(f"`{c}`" for c in v.columns) + " |" in text
    assert f"success criteria **{'hold' if pr['success'] else 'missed'}**" in text
    assert "the live loop: not run yet (`make loop`)" in text  # what has not run says so
    champion = _client(project).get_model_version_by_alias("newsrec-ranker", "champion")
    assert "canvas.md" in {a.path for a in _client(project).list_artifacts(champion.run_id)}


def test_training_is_deterministic_then_promote_and_rollback(project):
    first = _json(project, "train.json")
    again = sh(project, "newsrec", "train")  # the same training again, as after a crash: nothing new
    assert "no duplicate registered" in again.stderr and _json(project, "train.json")["version"] == "1"
    sh(project, "newsrec", "train", "--force")
    second = _json(project, "train.json")
    assert second["version"] == "2" and second["metrics"] == first["metrics"]
    c = _client(project)
    assert c.get_model_version_by_alias("newsrec-ranker", "champion").version == 1
    sh(project, "newsrec", "evaluate")
    # an equal model does not beat the champion by a positive margin
    assert "not promoted" in sh(project, "newsrec", "promote").stderr
    ev = _json(project, "evaluate.json")
    assert ev["champion"]["version"] == "1"
    (project / "params.yaml").write_text(
        (project / "params.yaml").read_text().replace("min_gain_over_champion: 0.0", "min_gain_over_champion: -1.0")
    )
    assert "PROMOTED" in sh(project, "newsrec", "promote").stderr
    assert c.get_model_version_by_alias("newsrec-ranker", "champion").version == 2
    sh(project, "newsrec", "rollback")
    assert c.get_model_version_by_alias("newsrec-ranker", "champion").version == 1
    again = sh(project, "newsrec", "rollback", check=False)
    assert again.returncode == 2 and "no previous champion" in again.stderr


def test_deploy_rollback_and_a_new_online_store_under_load_drop_no_request(project, tmp_path):
    """Under steady traffic: a deploy swaps the served model, `dvc repro -f -s feast` replaces
    the online store, a rollback swaps back; no request fails, and the gate never promotes
    the rolled-back version again by itself. (Starts where the test above leaves the
    registry: champion v1, v2 rolled back.)"""
    import pandas as pd
    from scratch import Load, Service

    from newsrec.adapters.feast import current
    from newsrec.stages.serve import status

    c = _client(project)
    champion = lambda: str(c.get_model_version_by_alias("newsrec-ranker", "champion").version)  # noqa: E731
    assert champion() == "1"
    bento = {"BENTOML_HOME": str(tmp_path / "bentoml")}
    sh(project, "newsrec", "package", "--no-build", **bento)
    # the card is v2's (the last one the gate judged): packaging v1 leaves it as it is
    card = (project / "reports" / "model_card.md").read_text()
    assert card.startswith("# Model card: newsrec-ranker v2\n") and "Measured at packaging" not in card
    assert _json(project, "package.json")["us_per_candidate"] > 0
    users = pd.read_parquet(project / "data/features/users.parquet", columns=["user_id"])["user_id"].unique().tolist()
    news = pd.read_parquet(project / "data/features/news_meta.parquet", columns=["news_id"])["news_id"].tolist()
    with Service(project, tmp_path / "serve.log", **bento) as svc, Load(svc.url, users[:200], news) as load:
        refused = sh(project, "newsrec", "promote")
        assert "was rolled back" in refused.stderr and champion() == "1"
        assert "PROMOTED" in sh(project, "newsrec", "promote", "--allow-rolled-back").stderr and champion() == "2"
        out = sh(project, "newsrec", "deploy", **bento)
        assert "every worker swapped to it" in out.stderr
        store = status(svc.url)["features_store"]
        sh(project, "dvc", "repro", "-f", "-s", "feast")  # DVC first deletes the stage's outputs
        new = current(project / "data" / "feast")
        assert new != store
        for _ in range(50):  # each worker follows the link by itself
            if {status(svc.url)["features_store"] for _ in range(6)} == {new}:
                break
        else:
            raise AssertionError(f"the service still reads store {store}, not {new}")
        assert "every worker swapped to it" in sh(project, "newsrec", "rollback", **bento).stderr
        n_before = len(load.results)
    served = load.results
    assert len(served) > 100 and len(served) > n_before
    assert all(s == 200 for s, _ in served), sorted({s for s, _ in served})
    versions = [v for _, v in served]
    changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert changes[0] == "1" and "2" in changes and versions[-1] == "1"
    assert "was rolled back" in sh(project, "newsrec", "promote").stderr and champion() == "1"


def test_a_tracking_store_lost_during_training_fails_cleanly_and_registers_nothing(project):
    """The MLflow tracking store (the project's SQLite file) taken by another process's
    exclusive lock once the training run has started: `newsrec train` exits non-zero with
    one line saying why and what to do, no version is registered, the champion stays."""
    import sqlite3
    import subprocess
    import time

    from scratch import env_for

    c = _client(project)
    before = {mv.version for mv in c.search_model_versions("name='newsrec-ranker'")}
    champion = c.get_model_version_by_alias("newsrec-ranker", "champion").version
    db = project / "mlruns" / "mlflow.db"
    t0 = int(time.time() * 1000)
    proc = subprocess.Popen(
        ["newsrec", "train", "--force"], cwd=project, env=env_for(project), stderr=subprocess.PIPE, text=True
    )
    lock = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if lock.execute("select count(*) from runs where start_time >= ?", (t0,)).fetchone()[0]:
                lock.execute("BEGIN EXCLUSIVE")  # the store is gone for anyone else
                break
            time.sleep(0.02)
        assert lock.in_transaction, "the training run never started"
        _, err = proc.communicate(timeout=300)
    finally:
        if lock.in_transaction:
            lock.execute("ROLLBACK")
        lock.close()
        proc.kill()
    assert proc.returncode != 0
    assert "Traceback" not in err, err
    line = [ln for ln in err.splitlines() if ln.startswith("newsrec train: error:")]
    assert len(line) == 1 and "tracking store" in line[0] and "nothing was registered" in line[0], err
    after = {mv.version for mv in c.search_model_versions("name='newsrec-ranker'")}
    assert after == before
    assert c.get_model_version_by_alias("newsrec-ranker", "champion").version == champion


def test_model_loading_trusts_only_the_types_the_project_names(project, tmp_path):
    """A registered model loads; the same artifact holding another type, even one its own
    MLmodel declares trusted, or saved as a pickle, is refused."""
    import shutil

    import mlflow
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    from newsrec.adapters.mlflow import UntrustedModel, load_model_dir
    from newsrec.bootstrap import context

    ctx = context(root=project)
    champion = ctx.registry.champion()
    model, meta = ctx.registry.load_model(champion)
    assert hasattr(model, "predict_proba") and meta["feature_service"] == "ranker_v1"
    good = Path(mlflow.artifacts.download_artifacts(f"models:/newsrec-ranker/{champion}"))
    bad = shutil.copytree(good, tmp_path / "bad")
    skops.io.dump(FunctionTransformer(func=print), bad / "model.skops")
    mlmodel = yaml.safe_load((bad / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"]["skops_trusted_types"] += [
        "builtins.print",
        "sklearn.preprocessing.FunctionTransformer",
    ]
    (bad / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(UntrustedModel, match="does not trust"):
        load_model_dir(bad)
    mlmodel["flavors"]["sklearn"]["serialization_format"] = "cloudpickle"
    (bad / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    with pytest.raises(UntrustedModel, match="not skops"):
        load_model_dir(bad)


def test_the_reference_frame_is_made_once_per_version_and_training_set(project):
    """Monitoring judges every live day against the same reference: the model version is
    loaded and the validation sample scored once, again when the training set file changes;
    each caller gets its own copy, and a new process reads it from disk."""
    import os
    import shutil

    import pandas as pd

    from newsrec.bootstrap import context
    from newsrec.stages.monitor import reference_frame

    ctx = context(root=project)
    loads, real = [], ctx.registry.load_model

    def counted(version):  # the real load, counted
        loads.append(version)
        return real(version)

    ctx.registry.load_model = counted
    champion = ctx.registry.champion()
    # made by nothing yet: another test of this project may have deployed (which makes it) or monitored
    from newsrec.stages import monitor

    shutil.rmtree(ctx.paths.monitor / "reference", ignore_errors=True)
    monitor._REFERENCES.clear()
    first = reference_frame(ctx.paths, ctx.params, ctx.registry, champion)
    first["score"] = 0.0  # a caller's change stays in its copy
    again = reference_frame(ctx.paths, ctx.params, ctx.registry, champion)
    assert loads == [champion] and again["score"].nunique() > 1
    st = ctx.paths.trainset.stat()
    os.utime(ctx.paths.trainset, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    rebuilt = reference_frame(ctx.paths, ctx.params, ctx.registry, champion)
    assert loads == [champion, champion]
    pd.testing.assert_frame_equal(rebuilt, again)
    # a new process (its memo empty) reads the frame the first made from disk: no model load
    monitor._REFERENCES.clear()
    pd.testing.assert_frame_equal(reference_frame(ctx.paths, ctx.params, ctx.registry, champion), rebuilt)
    assert loads == [champion, champion]
    (f,) = [
        f
        for f in (ctx.paths.monitor / "reference").glob("*.parquet")
        if f.stat().st_mtime_ns
        == max(g.stat().st_mtime_ns for g in (ctx.paths.monitor / "reference").glob("*.parquet"))
    ]
    f.write_bytes(b"not parquet")  # a damaged file is made again
    monitor._REFERENCES.clear()
    pd.testing.assert_frame_equal(reference_frame(ctx.paths, ctx.params, ctx.registry, champion), rebuilt)
    assert loads == [champion, champion, champion]


def test_pandas_point_in_time_join_equals_feast(project):
    """The in-process join the simulated days use gives Feast's training set, row for row."""
    assert_join_equals_feast(project)


def test_flows_rerun_after_a_crash_and_monitor(project, prefect, monkeypatch):
    """The pipeline flow re-run over a finished pipeline whose last training was not recorded
    by DVC (as after a crash) registers no duplicate; the monitor flow judges a window."""
    from flows.monitor import monitor
    from flows.pipeline import pipeline

    monkeypatch.setenv("NEWSREC_ROOT", str(project))
    c = _client(project)
    versions = lambda: sorted(int(v.version) for v in c.search_model_versions("name='newsrec-ranker'"))
    sh(project, "dvc", "repro", "promote")  # whatever earlier tests changed, DVC is up to date again
    before = versions()
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    del lock["stages"]["train"]  # the crash: the model was registered, DVC never recorded the stage
    (project / "dvc.lock").write_text(yaml.safe_dump(lock))
    out = pipeline()
    assert out["stages"]["train"] == "ran" and out["stages"]["features"] == "up to date"
    assert versions() == before  # reused, not registered twice
    decision = monitor(retrain="off")  # report and gate; the trigger is off
    assert decision["status"] in {"empty", "judged"} and decision["reasons"] and "pipeline" not in decision


def test_the_size_gate_registers_the_smaller_model_when_asked_and_close_enough(project):
    """train.prefer_smaller with a tolerance the smaller one meets: the smaller model is the
    one logged and registered (its trees, leaves and metrics), the full one's are in the run.
    (Last: it leaves a new challenger and puts params.yaml back.)"""
    from newsrec.bootstrap import context
    from newsrec.model import footprint

    params = (project / "params.yaml").read_text()
    set_params(project, "train", prefer_smaller=True, smaller_tolerance=1.0)
    try:
        sh(project, "newsrec", "train")
    finally:
        (project / "params.yaml").write_text(params)
    t = _json(project, "train.json")
    small = t["configurations"]["smaller"]
    assert t["registered"] == "smaller" and t["size_reasons"][-1].startswith("registered: smaller")
    assert t["metrics"] == {k: v for k, v in small.items() if k.startswith("valid_")}
    model, meta = context(root=project).registry.load_model(t["version"])
    assert {k: footprint(model)[k] for k in ("trees", "leaves")} == {k: small[k] for k in ("trees", "leaves")}
    assert meta["size.registered"] == "smaller"
    run = _client(project).get_run(t["run_id"])
    assert run.data.metrics["full.leaves"] == t["configurations"]["full"]["leaves"]
    assert run.data.params["train.prefer_smaller"] == "True"


def test_ablation_reports_each_feature_group_and_objective_on_the_card_and_the_champions_run(project):
    """`newsrec ablation`: every feature group removed in turn and the objectives compared on
    the project's training set; the table on the model card and the report on the champion's run."""
    import mlflow

    from newsrec.ablation import LIGHTGBM, POINTWISE
    from newsrec.features.spec import FEATURE_GROUPS

    sh(project, "newsrec", "ablation")
    a = _json(project, "ablation.json")
    groups, full = a["groups"], a["groups"]["every feature"]
    assert list(groups) == ["every feature", *FEATURE_GROUPS]
    for name, features in FEATURE_GROUPS.items():
        g = groups[name]
        assert g["features"] == list(features) and 0 < g["test_ndcg@10"] < 1 and 0 < g["test_auc"] < 1
        assert g["test_ndcg@10_change"] == pytest.approx(g["test_ndcg@10"] - full["test_ndcg@10"])
    # the reader's tastes are most of what the world's click model holds: without them, worse
    assert groups["user"]["test_ndcg@10"] < full["test_ndcg@10"]
    # the pipeline's own model is the every-feature fit, and its test figure is evaluate's
    assert full["test_ndcg@10"] == pytest.approx(_json(project, "metrics.json")["model"]["ndcg@10"], abs=1e-9)
    obj = a["objectives"]
    assert list(obj) == [POINTWISE, *LIGHTGBM] and all(len(o["seeds"]) == 4 for o in obj.values())
    # the pipeline's seed is the pipeline's model: the every-feature fit
    seed = str(yaml.safe_load((project / "params.yaml").read_text())["train"]["seed"])
    assert obj[POINTWISE]["seeds"][seed]["test_ndcg@10"] == pytest.approx(full["test_ndcg@10"], abs=1e-12)
    assert a["best"] == max(obj, key=lambda k: obj[k]["valid_ndcg@10"])
    # another objective replaces the pipeline's only when it wins on validation with every seed
    beats = obj[a["best"]]["valid_ndcg@10_range"][0] > obj[POINTWISE]["valid_ndcg@10_range"][1]
    assert a["kept"] == (a["best"] if beats else POINTWISE)
    assert (project / "reports" / "plots" / "ablation.png").stat().st_size > 0
    card = (project / "reports" / "model_card.md").read_text()
    table = card[card.index("## Ablation and training objective") : card.index("## Parameters")]
    assert f"| every feature | 0 | {full['test_ndcg@10']:.4f} |" in table
    assert f"| without user | {len(FEATURE_GROUPS['user'])} | {groups['user']['test_ndcg@10']:.4f} |" in table
    assert f"| {a['best']} (best) |" in table and f"**Kept:** {a['why']}." in table
    champion = _client(project).get_model_version_by_alias("newsrec-ranker", "champion")
    run_id = champion.tags["run_id"]
    assert json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/ablation.json"))["trainset"] == a["trainset"]
    if card.startswith(f"# Model card: newsrec-ranker v{champion.version}\n"):  # the card of the champion
        assert mlflow.artifacts.load_text(f"runs:/{run_id}/model_card.md") == card


def test_the_push_gives_the_online_store_what_feasts_own_write_path_gives(project):
    """FeatureStore.push makes the online rows from the views' declared types
    (adapters.feast.online_values); Feast's write_to_online_store makes them through Arrow.
    On the project's feature tables, with missing values put in, the two give the same
    entity keys, the same bytes for every value and the same times."""
    import numpy as np
    import pandas as pd

    from newsrec.adapters.feast import FeatureStore, online_values
    from newsrec.bootstrap import context
    from newsrec.features.spec import VIEWS

    paths = context(root=project).paths
    store = FeatureStore(paths.feature_repo, paths.online)
    provider = store.fs._get_provider()
    for v in VIEWS:
        rows = pd.read_parquet(paths.features / f"{v.table}.parquet").head(400)
        rows = rows[[v.key, "event_timestamp", *v.columns]].reset_index(drop=True)
        for c, dtype in v.columns.items():  # a missing value in every column but the ints
            if dtype == "float64":
                rows.loc[3, c] = np.nan
            elif dtype == "float32[]":
                rows.at[5, c] = None
        ours = online_values(v, rows)
        feasts = provider._prep_rows_to_write_for_ingestion(store.fs.get_feature_view(v.name), rows)
        assert len(ours) == len(feasts) == len(rows), v.name
        for (k1, vals1, t1, c1), (k2, vals2, t2, c2) in zip(ours, feasts, strict=True):
            assert k1.SerializeToString() == k2.SerializeToString(), v.name
            assert vals1.keys() == vals2.keys(), v.name
            for c in vals1:
                assert vals1[c].SerializeToString() == vals2[c].SerializeToString(), (v.name, c, vals1[c], vals2[c])
            t2 = pd.Timestamp(t2)
            assert pd.Timestamp(t1) == (t2.tz_convert(None) if t2.tzinfo else t2), v.name
            assert c1 is None and c2 is None
