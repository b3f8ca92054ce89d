// placeholder: kernels of the indexing family (backends/cuda/src/indexing.rs)
