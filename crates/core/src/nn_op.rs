//! Arguments of the fused neural-network ops of [`Backend`](crate::Backend): convolution,
//! pooling and batch normalization, all on NCHW layouts (channels-last is a stride permutation of
//! the same layouts, which backends may read in place).
//!
//! These are plain data, as PyTorch's `conv2d(input, weight, bias, stride, padding, dilation,
//! groups)` arguments are; the tensor layer checks shapes before it calls a backend.

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
