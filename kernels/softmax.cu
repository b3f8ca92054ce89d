// placeholder: kernels of the softmax family (backends/cuda/src/softmax.rs)
