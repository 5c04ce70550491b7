"""Analysis of a trained session over plain arrays: nearest neighbours (``neighbours``),
near-duplicates and their alignment, outliers, 2-D maps and lasso selections, cluster groups,
matching of clusterings, metrics, evaluation and the keep/reject decisions."""
