//! Tests of the tensor layer on the CPU backend, one module per op family. References are
//! computed here in f64 with plain loops, independently of the code under test.

mod common;

mod cat;
mod copy;
mod creation;
mod display;
mod elementwise;
mod indexing;
mod matmul;
mod overload;
mod pytorch_parity;
mod random;
mod reduce;
mod softmax;
mod view;
