"""Analysis over plain arrays, after or beside training: nearest neighbours (``neighbours``),
near-duplicates and their pixel alignment (``duplicates``, ``duplicate_align``) with the rule of
which copy to keep (``keep``), outliers, the 2-D map and its lasso (``maps``) and the alignment
of maps between epochs (``align2d``), merged and split clusters (``groups``), cluster identities
across epochs (``matching``) and the flows between them (``river``), clustering metrics
(``metrics``; chance-corrected ``ami``), what a cluster's card shows (``cards``) and the
evaluation of learned features (``evaluate``)."""
