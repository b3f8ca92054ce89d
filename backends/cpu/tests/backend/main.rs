//! Tests of the CPU backend through the `Backend` trait, one module per op family, against
//! references computed here in `f64` (never by the code under test).

mod binary;
mod common;
mod indexing;
mod matmul;
mod random;
mod reduce;
mod softmax;
mod unary;
