"""The compiled walk of newsrec.forest, apart so that numba is imported only to score."""

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def walk(x, roots, value, feature, threshold, missing_left, left, right, leaf, baseline):  # pragma: no cover
    """Each row's baseline plus its leaf's value in every tree, tree after tree as
    scikit-learn adds them (its `_predict_one_from_raw_data`: a missing value goes where the
    node sends missing values, any other left when at most the threshold)."""
    n = x.shape[0]
    out = np.full(n, baseline)
    for t in range(roots.shape[0]):
        r = roots[t]
        for i in range(n):
            k = r
            while not leaf[k]:
                v = x[i, feature[k]]
                if np.isnan(v):
                    k = r + (left[k] if missing_left[k] else right[k])
                elif v <= threshold[k]:
                    k = r + left[k]
                else:
                    k = r + right[k]
            out[i] += value[k]
    return out
