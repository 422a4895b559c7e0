"""Small simulated worlds for tests."""

from __future__ import annotations

from newsrec.config import World


def tiny_world(**kw) -> World:
    base = dict(n_users=300, n_articles=300, impressions_per_day=200, days=3, backlog_days=1)
    return World(**{**base, **kw})
