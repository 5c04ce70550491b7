"""Training: the DeepCluster engine (``engine``), the backbones (``models``), feature extraction,
k-means/PCA clustering, the uniform cluster sampler, augmentations, checkpoints, multi-GPU
(``distributed``), time and memory estimates and the batch prefetcher."""
