"""The content signal: titles -> TF-IDF -> a few latent (LSA) dimensions, unit length."""

from __future__ import annotations

import functools

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer


def title_embeddings(titles: list[str], dims: int, seed: int, fit_on: list[str] | None = None) -> np.ndarray:
    """Unit-length LSA vectors of the titles (float32, shape len(titles) x dims).

    Fitted on the titles alone (no clicks or labels are involved): on `fit_on` where given
    (the logged news), so that articles published later get vectors without moving anyone
    else's; otherwise on `titles` themselves. The same inputs in one process are computed
    once (moving the online store forward asks every hour).
    """
    return _embeddings(tuple(titles), dims, seed, None if fit_on is None else tuple(fit_on)).copy()


@functools.lru_cache(maxsize=4)
def _embeddings(titles: tuple[str, ...], dims: int, seed: int, fit_on: tuple[str, ...] | None) -> np.ndarray:
    if not titles:
        return np.zeros((0, dims), np.float32)
    base = list(fit_on) if fit_on is not None and len(fit_on) else titles
    vec = TfidfVectorizer(min_df=2, sublinear_tf=True).fit(base)
    fitted = vec.transform(base)
    k = max(1, min(dims, fitted.shape[1] - 1, fitted.shape[0] - 1))
    svd = TruncatedSVD(n_components=k, random_state=seed).fit(fitted)
    z = svd.transform(vec.transform(titles))
    z = np.pad(z, ((0, 0), (0, dims - z.shape[1])))
    return unit(z).astype(np.float32)


def unit(z: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(z, axis=1, keepdims=True)
    return np.divide(z, n, out=np.zeros_like(z, dtype=np.float64), where=n > 0)
