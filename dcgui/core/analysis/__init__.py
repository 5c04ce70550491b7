"""Analysis over plain arrays, after or beside training: nearest neighbours (``neighbours``),
near-duplicates and their pixel alignment (``duplicates``, ``duplicate_align``) with the rule of
which copy to keep (``keep``), outliers, the 2-D map and its lasso (``maps``), merged and split
clusters (``groups``), cluster identities across epochs (``matching``), clustering metrics and
the evaluation of learned features (``evaluate``)."""
