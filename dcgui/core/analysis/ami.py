"""Adjusted mutual information (Vinh, Epps & Bailey 2010), exact and fast at k = 10,000.

NMI rises with k even between random labelings; AMI subtracts the mutual information expected by
chance under the permutation model, ``AMI = (MI - E[MI]) / (mean(H(A), H(B)) - E[MI])``, with the
arithmetic mean (scikit-learn's default ``average_method``), so it is about 0 for independent
labelings at any k and 1 for identical ones.

MI comes from the sparse contingency table (``dcgui.core.analysis.metrics``). E[MI] is exact: the usual
sum over every row i, column j and cell value n of ``n/N log(N n / (a_i b_j)) P(n | a_i, b_j, N)``
(hypergeometric P) depends on a row and a column only through their *sizes*, so it is summed over
pairs of *distinct* sizes, each weighted by how many rows and columns have that size.
Partitions of N have at most sqrt(2N) distinct sizes and in practice a few dozen, so
k = 10,000 costs a few hundred thousand terms instead of scikit-learn's k^2 pairs.

For each pair only the cell values within the Bernstein bound of the hypergeometric
(``|n - ab/N| <= t`` with ``P <= 2 exp(-TAIL)``, which holds for sampling without replacement as
for the binomial, Hoeffding 1963) are summed: the skipped tails weigh less than
``2 exp(-TAIL) k log N`` < 1e-20 in total, far below float64 rounding, so the value equals the
full sum (checked against scikit-learn in tests/core/test_ami.py). Without this cut, k = 100 at
N = 100,000 summed ~10^7 terms (2.5 s); with it ~10^6.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from dcgui.core.analysis.metrics import _contingency, _entropy

_CHUNK_TERMS = 1 << 21  # terms per vectorised block (~100 MB of float64 temporaries at most)
TAIL = 60.0  # skip cell values whose two-sided tail probability is below 2 exp(-TAIL)


def expected_mutual_info(rows: np.ndarray, cols: np.ndarray) -> float:
    """E[MI] (nats) of two labelings with the given cluster sizes under random permutation.

    Exact (no approximation): every possible cell value of every pair of sizes is summed.
    """
    a = np.asarray(rows, dtype=np.int64)
    b = np.asarray(cols, dtype=np.int64)
    a, b = a[a > 0], b[b > 0]
    n = int(a.sum())
    if n == 0 or int(b.sum()) != n:
        return 0.0
    ua, ca = np.unique(a, return_counts=True)
    ub, cb = np.unique(b, return_counts=True)
    pa = np.repeat(ua, len(ub))  # every pair of distinct sizes
    pb = np.tile(ub, len(ua))
    weight = np.repeat(ca, len(ub)).astype(np.float64) * np.tile(cb, len(ua))
    lo = np.maximum(1, pa + pb - n)
    hi = np.minimum(pa, pb)
    # Bernstein: P(|X - mu| >= t) <= 2 exp(-t^2 / (2 (mu + t / 3))) (variance <= mu, steps of 1)
    mu = pa.astype(np.float64) * pb / n
    t = (2 * TAIL / 3 + np.sqrt((2 * TAIL / 3) ** 2 + 8 * TAIL * mu)) / 2
    lo = np.maximum(lo, np.floor(mu - t).astype(np.int64))
    hi = np.minimum(hi, np.ceil(mu + t).astype(np.int64))
    terms = np.maximum(hi - lo + 1, 0)
    # log k! for every k <= N, each from gammaln (exact per entry, no running sum): the terms
    # below are table look-ups instead of four gammaln calls each
    log_fact = gammaln(np.arange(n + 2, dtype=np.float64))[1:]  # log_fact[k] = log k!
    # the constant part of log P for each pair: log a! b! (N-a)! (N-b)! / N!
    const = log_fact[pa] + log_fact[pb] + log_fact[n - pa] + log_fact[n - pb] - log_fact[n]
    log_n = np.log(n)
    total = 0.0
    ends = np.cumsum(terms)
    start = 0
    while start < len(pa):
        # pairs [start, stop) hold at most _CHUNK_TERMS terms (at least one pair)
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + _CHUNK_TERMS, side="right")), start + 1)
        t = terms[start:stop]
        owner = np.repeat(np.arange(start, stop), t)
        if owner.size:
            first = np.repeat(np.cumsum(t) - t, t)
            nij = lo[owner] + np.arange(owner.size) - first
            ai, bj = pa[owner], pb[owner]
            log_p = (const[owner] - log_fact[nij] - log_fact[ai - nij] - log_fact[bj - nij]
                     - log_fact[n - ai - bj + nij])
            term = nij / n * (log_n + np.log(nij) - np.log(ai) - np.log(bj)) * np.exp(log_p)
            total += float(np.dot(np.bincount(owner - start, weights=term, minlength=stop - start),
                                  weight[start:stop]))
        start = stop
    return total


def ami(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted mutual information of two labelings (arithmetic normalisation, as scikit-learn's
    ``adjusted_mutual_info_score``; the same values within float rounding).

    Degenerate cases as scikit-learn: both single-cluster (or empty) -> 1.0; one -> 0.0.
    """
    rows, cols, r, c, cells = _contingency(a, b)
    n = int(rows.sum())
    n_a, n_b = np.count_nonzero(rows), np.count_nonzero(cols)
    if (n_a == n_b == 1) or n == 0:
        return 1.0
    if n_a == 1 or n_b == 1:  # one side is a single cluster: no information, E[MI] = MI = 0
        return 0.0
    nij = cells.astype(np.float64)
    mi = float((nij / n * (np.log(nij) + np.log(n) - np.log(rows[r]) - np.log(cols[c]))).sum())
    h_a, h_b = _entropy(rows, n), _entropy(cols, n)
    emi = expected_mutual_info(rows, cols)
    denominator = 0.5 * (h_a + h_b) - emi
    eps = np.finfo(np.float64).eps  # as scikit-learn: never divide by (almost) zero
    denominator = min(denominator, -eps) if denominator < 0 else max(denominator, eps)
    return float((mi - emi) / denominator)
