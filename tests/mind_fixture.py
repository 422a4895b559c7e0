"""A small MIND-format directory written by the tests themselves (train, dev, test)."""

from __future__ import annotations

import random
from pathlib import Path

CATS = {"news": "newsus", "sports": "football_nfl", "finance": "markets", "lifestyle": "royals"}


def write_mind(root: Path, n_news: int = 40, n_lines: int = 30, seed: int = 1, described: float = 1.0) -> Path:
    """Write MINDsmall_train/dev/test-like folders under root; return root. `described`: the
    fraction of the articles news.tsv lists (a metadata feed lagging the impression log)."""
    rng = random.Random(seed)
    ids = [f"N{1000 + i}" for i in range(n_news)]
    cats = list(CATS)
    for split, day, span in (("MINDtiny_train", 11, 3), ("MINDtiny_dev", 14, 1), ("MINDtiny_test", 15, 1)):
        d = root / split
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "news.tsv", "w") as f:
            for i, nid in enumerate(ids[: round(described * n_news)]):
                c = cats[i % len(cats)]
                f.write(
                    f"{nid}\t{c}\t{CATS[c]}\tTitle about {c} {i}\tAn abstract.\thttps://example.org/{nid}\t[]\t[]\n"
                )
        with open(d / "behaviors.tsv", "w") as f:
            for line in range(1, n_lines + 1):
                hist = " ".join(rng.sample(ids, rng.choice([0, 0, 3, 5])))  # some empty histories
                cands = rng.sample(ids, rng.randint(2, 8))
                if split.endswith("test"):
                    imps = " ".join(cands)  # the test set has no labels
                else:
                    clicked = rng.randrange(len(cands))
                    imps = " ".join(f"{c}-{int(j == clicked or rng.random() < 0.1)}" for j, c in enumerate(cands))
                hour = 1 + line % 12
                f.write(
                    f"{line}\tU{rng.randint(1, 12)}\t11/{day + line % span}/2019 {hour}:{line % 60:02d}:07 "
                    f"{'AM' if line % 2 else 'PM'}\t{hist}\t{imps}\n"
                )
    return root
