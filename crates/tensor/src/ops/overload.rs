//! Arithmetic operators: `&a + &b`, `&a * 2.0`, `1.0 - &a`, `-&a` (owned tensors too).
//!
//! Ops can fail (shapes that do not broadcast, devices that differ), so every operator returns
//! `Result<Tensor<B>>`, as `(&a + &b)?` reads. They are the named methods (`add`, `sub`, `mul`,
//! `div`, `neg`) with PyTorch's broadcasting and type promotion; a scalar on the left
//! (`2.0 / &x`) promotes as a Python number does.
//!
//! Scalars are `f64` and `i64` only (Python has one float and one int type): with a single
//! impl per kind, a literal such as `2.0` or `3` needs no suffix and `(&x * 2.0)?` has a known
//! type. Use `as f64` for an `f32` value.

use crate::Tensor;
use std::ops::{Add, Div, Mul, Neg, Sub};
use tiny_torch_core::{Backend, BinaryOp, Result, Scalar};

macro_rules! tensor_operators {
    ($($trait:ident, $method:ident => $op:ident);* $(;)?) => {$(
        impl<B: Backend> $trait<&Tensor<B>> for &Tensor<B> {
            type Output = Result<Tensor<B>>;
            fn $method(self, rhs: &Tensor<B>) -> Self::Output {
                self.binary_op(BinaryOp::$op, rhs)
            }
        }

        impl<B: Backend> $trait<Tensor<B>> for &Tensor<B> {
            type Output = Result<Tensor<B>>;
            fn $method(self, rhs: Tensor<B>) -> Self::Output {
                self.binary_op(BinaryOp::$op, &rhs)
            }
        }

        impl<B: Backend> $trait<&Tensor<B>> for Tensor<B> {
            type Output = Result<Tensor<B>>;
            fn $method(self, rhs: &Tensor<B>) -> Self::Output {
                self.binary_op(BinaryOp::$op, rhs)
            }
        }

        impl<B: Backend> $trait<Tensor<B>> for Tensor<B> {
            type Output = Result<Tensor<B>>;
            fn $method(self, rhs: Tensor<B>) -> Self::Output {
                self.binary_op(BinaryOp::$op, &rhs)
            }
        }

        scalar_operators!($trait, $method => $op; f64, i64);
    )*};
}

macro_rules! scalar_operators {
    ($trait:ident, $method:ident => $op:ident; $($t:ty),*) => {$(
        impl<B: Backend> $trait<$t> for &Tensor<B> {
            type Output = Result<Tensor<B>>;
            fn $method(self, rhs: $t) -> Self::Output {
                self.binary_op(BinaryOp::$op, rhs)
            }
        }

        impl<B: Backend> $trait<$t> for Tensor<B> {
            type Output = Result<Tensor<B>>;
            fn $method(self, rhs: $t) -> Self::Output {
                self.binary_op(BinaryOp::$op, rhs)
            }
        }

        impl<B: Backend> $trait<&Tensor<B>> for $t {
            type Output = Result<Tensor<B>>;
            fn $method(self, rhs: &Tensor<B>) -> Self::Output {
                rhs.binary_op_reversed(BinaryOp::$op, Scalar::from(self))
            }
        }

        impl<B: Backend> $trait<Tensor<B>> for $t {
            type Output = Result<Tensor<B>>;
            fn $method(self, rhs: Tensor<B>) -> Self::Output {
                rhs.binary_op_reversed(BinaryOp::$op, Scalar::from(self))
            }
        }
    )*};
}

tensor_operators!(Add, add => Add; Sub, sub => Sub; Mul, mul => Mul; Div, div => Div);

impl<B: Backend> Neg for &Tensor<B> {
    type Output = Result<Tensor<B>>;
    fn neg(self) -> Self::Output {
        Tensor::neg(self)
    }
}

impl<B: Backend> Neg for Tensor<B> {
    type Output = Result<Tensor<B>>;
    fn neg(self) -> Self::Output {
        Tensor::neg(&self)
    }
}
