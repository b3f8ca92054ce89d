// placeholder: kernels of the binary family (backends/cuda/src/binary.rs)
