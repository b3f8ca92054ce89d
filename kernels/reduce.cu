// placeholder: kernels of the reduce family (backends/cuda/src/reduce.rs)
