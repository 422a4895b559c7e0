"""Figures people would rather look at than read: ROC, calibration, importance, metrics."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402


def roc(y, p, title: str = "ROC, validation days"):
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, label=f"model (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="random")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def calibration(y, p, title: str = "Calibration, validation days"):
    frac, mean = calibration_curve(y, p, n_bins=15, strategy="quantile")
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(mean, frac, "o-", label="model")
    hi = max(mean.max(), frac.max())
    ax.plot([0, hi], [0, hi], "--", color="grey", label="perfect")
    ax.set(xlabel="predicted click probability", ylabel="observed click rate", title=title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def importance(names: list[str], mean: np.ndarray, std: np.ndarray, title: str = "Permutation importance"):
    order = np.argsort(mean)
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.2))
    ax.barh(np.array(names)[order], mean[order], xerr=std[order], color="tab:blue")
    ax.set(xlabel="drop in validation AUC when shuffled", title=title)
    fig.tight_layout()
    return fig


def scorers(metrics: dict[str, dict[str, float]], title: str = "Test days: ranking metrics"):
    names = list(metrics)
    keys = ["auc", "mrr", "ndcg@5", "ndcg@10"]
    x = np.arange(len(keys))
    w = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, n in enumerate(names):
        ax.bar(x + i * w, [metrics[n][k] for k in keys], w, label=n)
    ax.set_xticks(x + w * (len(names) - 1) / 2, keys)
    ax.set(ylabel="mean over impressions", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ablation(report: dict, title: str = "What each feature group and training objective earn"):
    """Left: the change in test nDCG@10 with each feature group removed, against the band the
    same model's fits span with other seeds (chance); right: each training objective's mean
    validation and test nDCG@10, with the range over its seeds."""
    groups = {k: v for k, v in report["groups"].items() if v["features"]}
    objectives = report["objectives"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 0.5 * max(len(groups), len(objectives)) + 2.0))
    names = list(groups)
    change = np.array([groups[n]["test_ndcg@10_change"] for n in names])
    lo, hi = next(iter(objectives.values()))["test_ndcg@10_range"]
    a.axvspan(-(hi - lo), hi - lo, color="0.85", label="chance: the seeds' spread")
    a.barh(names, change, color=np.where(change < -(hi - lo), "tab:red", "tab:gray"))
    a.axvline(0, color="k", lw=0.8)
    a.set(xlabel="test nDCG@10 without the group, minus with every feature", title="Feature groups (red: it earns)")
    a.invert_yaxis()
    a.legend(fontsize=8, loc="lower left")
    labels = [n.replace(": ", ":\n") for n in objectives]
    y = np.arange(len(labels))
    for off, key, label in ((-0.2, "valid_ndcg@10", "validation"), (0.2, "test_ndcg@10", "test")):
        mean = np.array([o[key] for o in objectives.values()])
        span = np.array([o[f"{key}_range"] for o in objectives.values()]).T
        b.barh(y + off, mean, 0.4, xerr=np.abs(span - mean), capsize=3, label=label)
    b.set_yticks(y, labels, fontsize=7)
    low = min(min(o["valid_ndcg@10_range"][0], o["test_ndcg@10_range"][0]) for o in objectives.values())
    b.set_xlim(low - 0.01, None)
    b.set(xlabel="nDCG@10 (mean, range over the seeds)", title="Training objectives")
    b.invert_yaxis()
    b.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def simulate(result: dict, what: str = "Simulated days"):
    """Per simulated day and policy: CTR, nDCG@10 and quality of what was shown, and the
    oracle's (dotted); the shock as a dashed line, drift detected as an open circle, a
    retrain as a filled triangle."""
    metrics = [("ctr@10", "CTR of the shown top 10"), ("ndcg@10", "nDCG@10"), ("quality@10", "true quality, top 10")]
    money = bool((result.get("economics") or {}).get("baseline"))
    fig, axes = plt.subplots(len(metrics) + money, 1, figsize=(8, 8.5 + 3 * money))
    for ax in axes[1 : len(metrics)]:
        ax.sharex(axes[0])
    colors = {name: f"C{i}" for i, name in enumerate(result["policies"])}
    for (m, label), ax in zip(metrics, axes):
        for name, days in result["policies"].items():
            x = [d["day"] for d in days]
            y = [d[m] for d in days]
            c = colors[name]
            ax.plot(x, y, ".-", label=name, lw=1.8, color=c)
            drift = [(a, b) for a, b, d in zip(x, y, days) if d["drift"]]
            retr = [(a, b) for a, b, d in zip(x, y, days) if d["retrained"]]
            if drift:
                ax.scatter(*zip(*drift), s=70, facecolors="none", edgecolors=c, zorder=3)
            if retr:
                ax.scatter(*zip(*retr), marker="^", s=40, color=c, zorder=4)
        first = next(iter(result["policies"].values()))
        if first and "oracle" in first[0]:  # every policy sees the same readers: one oracle line
            ax.plot(
                [d["day"] for d in first], [d["oracle"][m] for d in first], ":", color="black", lw=1.2, label="oracle"
            )
        if result.get("shock_day") is not None:
            ax.axvline(result["shock_day"] - 0.5, ls="--", color="grey")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_title(
        f"{what}, scenario {result['scenario']}\no drift detected, ^ retrained (serves from the next day)",
        fontsize=10,
    )
    axes[0].legend(loc="lower left", fontsize=9)
    axes[len(metrics) - 1].set_xlabel("day")
    axes[len(metrics) - 1].xaxis.set_major_locator(MaxNLocator(integer=True))
    if money:
        _economics(axes[-1], result["economics"], colors)
    fig.tight_layout()
    return fig


def _economics(ax, block: dict, colors: dict[str, str]) -> None:
    """Each policy's net gain over the baseline against the value of a click (a line: the
    gain grows by the clicks it gained per unit of value), its break-even value marked, the
    cost model's value dotted."""
    v0 = block["cost_model"]["value_per_click"]
    rows = {n: e for n, e in block["policies"].items() if "net_gain" in e}
    evens = [e["break_even_value_per_click"] for e in rows.values() if e["break_even_value_per_click"]]
    xs = np.linspace(0, 2 * max([v0, *evens]), 50)
    for name, e in rows.items():
        c = colors.get(name)  # a policy the days above do not show (the loop's) gets the next color
        (line,) = ax.plot(xs, e["net_gain"] + (xs - v0) * e["clicks_gained"], lw=1.8, label=name, color=c)
        if (b := e["break_even_value_per_click"]) is not None:
            ax.scatter([b], [0], s=40, color=line.get_color(), zorder=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(v0, ls=":", color="black", lw=1.2, label=f"value per click in params ({v0})")
    ax.set_xlabel("value of a click")
    ax.set_ylabel(f"net gain over {block['baseline']}")
    ax.set_title("Economics: net value against the static policy (dots: break-even value per click)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)


def save(fig, path) -> None:
    fig.savefig(path, dpi=110)
    plt.close(fig)
