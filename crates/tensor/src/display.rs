//! PyTorch-like printing.
