//! Tests of the autograd engine on the CPU backend: the engine itself (ordering, accumulation,
//! freeing, grad mode, hooks, versions, anomaly mode, deep graphs), in-place ops (history
//! rebasing, views), higher-order gradients, and gradcheck of every op that records a backward.

mod common;

mod engine;
mod gradcheck_ops;
mod higher_order;
mod inplace;
mod pytorch_edge_cases;
