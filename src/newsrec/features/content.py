"""The content signal: titles -> TF-IDF -> a few latent (LSA) dimensions, unit length."""

from __future__ import annotations

import functools

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from newsrec.threads import one_thread


def title_embeddings(titles: list[str], dims: int, seed: int, fit_on: list[str] | None = None) -> np.ndarray:
    """Unit-length LSA vectors of the titles (float32, shape len(titles) x dims).

    Fitted on the titles alone (no clicks or labels are involved): on `fit_on` where given
    (the logged news), so that articles published later get vectors without moving anyone
    else's; otherwise on `titles` themselves. In one process a fit is made once, and a title
    is embedded once per fit (moving the online store forward asks every hour, with the
    articles published since added). On one BLAS thread: the vectors are then the same to
    the last bit whatever the machine's cores or the process (a Dask worker runs one thread).
    """
    if not titles:
        return np.zeros((0, dims), np.float32)
    base = tuple(fit_on) if fit_on is not None and len(fit_on) else tuple(titles)
    vec, svd, known = _fit(base, dims, seed)
    new = list(dict.fromkeys(t for t in titles if t not in known))
    if new:  # only then: an hour's advance usually brings no new title
        with one_thread():
            z = svd.transform(vec.transform(new))
        z = unit(np.pad(z, ((0, 0), (0, dims - z.shape[1])))).astype(np.float32)
        known.update(zip(new, z))
    return np.stack([known[t] for t in titles])


@functools.lru_cache(maxsize=4)
def _fit(base: tuple[str, ...], dims: int, seed: int) -> tuple[TfidfVectorizer, TruncatedSVD, dict]:
    """The TF-IDF and SVD fitted on `base` (on one BLAS thread), and a memo of the vectors
    embedded with them."""
    vec = TfidfVectorizer(min_df=2, sublinear_tf=True).fit(base)
    fitted = vec.transform(base)
    k = max(1, min(dims, fitted.shape[1] - 1, fitted.shape[0] - 1))
    with one_thread():
        return vec, TruncatedSVD(n_components=k, random_state=seed).fit(fitted), {}


def unit(z: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(z, axis=1, keepdims=True)
    return np.divide(z, n, out=np.zeros_like(z, dtype=np.float64), where=n > 0)
