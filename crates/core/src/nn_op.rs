//! Arguments of the fused neural-network ops of [`Backend`](crate::Backend): convolution,
//! pooling and batch normalization, all on NCHW layouts (channels-last is a stride permutation of
//! the same layouts, which backends may read in place).
//!
//! These are plain data, as PyTorch's `conv2d(input, weight, bias, stride, padding, dilation,
//! groups)` arguments are; the tensor layer checks shapes before it calls a backend.

use crate::{Error, Result};

/// `conv2d`'s geometry. Padding is symmetric per spatial dim (PyTorch's `padding="same"` with an
/// even kernel pads asymmetrically; the tensor layer pads the input first in that case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Conv2dParams {
    /// The output size of one spatial dim: `(in + 2p - d (k - 1) - 1) / s + 1`, or `None` when
    /// the (dilated) kernel does not fit the padded input.
    pub fn output_size(&self, dim: usize, input: usize, kernel: usize) -> Option<usize> {
        let span = self.dilation[dim] * (kernel.checked_sub(1)?) + 1;
        let padded = input + 2 * self.padding[dim];
        padded
            .checked_sub(span)
            .map(|room| room / self.stride[dim] + 1)
    }

    /// Checks `input [N, C, H, W]` and `weight [O, C / groups, kh, kw]` against these
    /// parameters, as every backend must before convolving, and returns the output dims
    /// `[N, O, Ho, Wo]`. Errors name `op` and the shapes; element counts that overflow `usize`
    /// are errors too.
    pub fn check_shapes(
        &self,
        op: &'static str,
        input: [usize; 4],
        weight: &[usize],
    ) -> Result<[usize; 4]> {
        let [n, c, h, w] = input;
        let &[o, cg, kh, kw] = weight else {
            return Err(Error::shape(
                op,
                format!("expected a 4-D weight [O, C / groups, kh, kw], got {weight:?}"),
            ));
        };
        let bad = |msg: String| Err(Error::shape(op, msg));
        if self.groups == 0 || self.stride.contains(&0) || self.dilation.contains(&0) {
            return bad(format!(
                "groups, stride and dilation must be positive, got {self:?}"
            ));
        }
        if !c.is_multiple_of(self.groups) || !o.is_multiple_of(self.groups) || c / self.groups != cg
        {
            return bad(format!(
                "input {input:?} and weight {weight:?} do not fit {} groups",
                self.groups
            ));
        }
        let (Some(oh), Some(ow)) = (self.output_size(0, h, kh), self.output_size(1, w, kw)) else {
            return bad(format!(
                "kernel {kh}x{kw} (dilation {:?}) does not fit input {h}x{w} padded by {:?}",
                self.dilation, self.padding
            ));
        };
        let output = [n, o, oh, ow];
        let count = |dims: [usize; 4]| dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if [input, [o, cg, kh, kw], output]
            .into_iter()
            .any(|d| count(d).is_none())
        {
            return bad(format!(
                "sizes overflow: input {input:?}, weight {weight:?}"
            ));
        }
        Ok(output)
    }
}

/// `max_pool2d` / `avg_pool2d` geometry, with PyTorch's defaults expressed by the caller
/// (stride = kernel when not given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dParams {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    /// Max pooling only (PyTorch's avg_pool2d has no dilation): 1 for none.
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
    /// Average pooling only: whether padded zeros count in the divisor.
    pub count_include_pad: bool,
    /// Average pooling only: a fixed divisor instead of the window size.
    pub divisor_override: Option<usize>,
}

impl Pool2dParams {
    /// The output size of one spatial dim as PyTorch computes it (`pooling_output_shape`):
    /// with `ceil_mode`, the last window must start inside the input or its left padding.
    pub fn output_size(&self, dim: usize, input: usize) -> Option<usize> {
        let (k, s, p, d) = (
            self.kernel[dim],
            self.stride[dim],
            self.padding[dim],
            self.dilation[dim],
        );
        let span = d * (k.checked_sub(1)?) + 1;
        let room = (input + 2 * p).checked_sub(span)?;
        let mut out = if self.ceil_mode {
            room.div_ceil(s) + 1
        } else {
            room / s + 1
        };
        if self.ceil_mode && (out - 1) * s >= input + p {
            out -= 1;
        }
        Some(out)
    }
}

/// What `batch_norm`'s forward returns besides the output, for its backward: the per-channel
/// mean and inverse standard deviation of the batch (training) or of the running statistics
/// (evaluation), as PyTorch's `save_mean` / `save_invstd`.
#[derive(Debug)]
pub struct BatchNormSaved<S> {
    pub mean: S,
    pub invstd: S,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_output_sizes() {
        let p = Conv2dParams {
            stride: [2, 1],
            padding: [1, 0],
            dilation: [1, 2],
            groups: 1,
        };
        assert_eq!(p.output_size(0, 7, 3), Some(4)); // (7 + 2 - 3) / 2 + 1
        assert_eq!(p.output_size(1, 7, 3), Some(3)); // 7 - 5 + 1
        assert_eq!(p.output_size(1, 4, 3), None); // dilated kernel of 5 > 4
    }

    #[test]
    fn pool_output_sizes_follow_ceil_mode() {
        let mut p = Pool2dParams {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        };
        assert_eq!(p.output_size(0, 5), Some(2));
        p.ceil_mode = true;
        assert_eq!(p.output_size(0, 5), Some(3));
        // 3x3 stride 2 pad 1 on 4 with ceil: torch gives 3 (the last window starts at 4 = in + p - 1 < in + p)
        p.kernel = [3, 3];
        p.padding = [1, 1];
        assert_eq!(p.output_size(0, 4), Some(3));
    }
}

#[cfg(test)]
mod conv_shape_tests {
    use super::*;

    fn params(stride: usize, padding: usize, groups: usize) -> Conv2dParams {
        Conv2dParams {
            stride: [stride; 2],
            padding: [padding; 2],
            dilation: [1, 1],
            groups,
        }
    }

    #[test]
    fn output_dims_and_errors() {
        // (10 + 2 - 3) / 2 + 1 = 5
        let out = params(2, 1, 1).check_shapes("conv2d", [2, 4, 10, 10], &[8, 4, 3, 3]);
        assert_eq!(out.unwrap(), [2, 8, 5, 5]);
        let zero_stride = params(0, 1, 1).check_shapes("conv2d", [2, 4, 10, 10], &[8, 4, 3, 3]);
        assert!(
            zero_stride
                .unwrap_err()
                .to_string()
                .contains("must be positive")
        );
        let groups = params(1, 0, 3).check_shapes("conv2d", [2, 4, 10, 10], &[6, 2, 3, 3]);
        assert!(
            groups
                .unwrap_err()
                .to_string()
                .contains("do not fit 3 groups")
        );
        let big = params(1, 0, 1).check_shapes("conv2d", [1, 1, 2, 2], &[1, 1, 3, 3]);
        assert!(
            big.unwrap_err()
                .to_string()
                .contains("does not fit input 2x2")
        );
        let huge = params(1, 0, 1).check_shapes("conv2d", [usize::MAX, 2, 1, 1], &[1, 2, 1, 1]);
        assert!(huge.unwrap_err().to_string().contains("sizes overflow"));
        let not_4d = params(1, 0, 1).check_shapes("conv2d", [1, 1, 2, 2], &[1, 1, 3]);
        assert!(not_4d.unwrap_err().to_string().contains("4-D weight"));
    }
}
