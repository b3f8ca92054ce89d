// placeholder: kernels of the unary family (backends/cuda/src/unary.rs)
