"""The process's BLAS and OpenMP thread pools, held to one thread where the work shares
the machine.

OpenBLAS and OpenMP threads spin for a while after each call, waiting for the next one. In a
process alone on the machine that costs CPU time and little else; beside the service's
workers it takes cores they answer on. Evidently's drift report on 50,000 rows against
50,000 took the same wall time on one thread as on two (4.1 against 4.0 s) and 40% less CPU
(4.2 against 7.0 s).
"""

from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController


@functools.cache
def pools() -> ThreadpoolController:
    """This process's BLAS and OpenMP thread pools, found once (`threadpool_limits` looks for
    them again on every call: about 5 ms, paid on each hour's move of the online store). The
    libraries that bring them (numpy's and scipy's OpenBLAS, scikit-learn's OpenMP) are
    loaded first, so that none loaded later is left out of the limit."""
    import scipy.linalg  # noqa: F401
    import sklearn.utils._openmp_helpers  # noqa: F401

    return ThreadpoolController()


def one_thread():
    """A context in which the process's BLAS and OpenMP pools run one thread."""
    return pools().limit(limits=1)
