// placeholder: kernels of the random family (backends/cuda/src/random.rs)
