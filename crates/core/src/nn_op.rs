//! Arguments of the fused neural-network ops of [`Backend`](crate::Backend): convolution,
//! pooling and batch normalization, all on NCHW layouts (channels-last is a stride permutation of
//! the same layouts, which backends may read in place).
//!
//! These are plain data, as PyTorch's `conv2d(input, weight, bias, stride, padding, dilation,
//! groups)` arguments are; the tensor layer checks shapes before it calls a backend. Beside them
//! stand the host-side checks every backend makes on its operands before it launches work
//! (ranks, matching sizes, dtypes, views inside their storages), one copy for all backends;
//! what only a device can check (dtype support, index values) stays in the backends.

use crate::{BackendStorage, DType, Error, Layout, Result, View, check_extent};

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
        check_conv_planes(op, input)?;
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

/// PyTorch's rule for empty convolution inputs: a batch or channel count of zero is fine (the
/// output is empty or the bias), an empty plane with samples and channels is not.
pub fn check_conv_planes(op: &'static str, [n, c, h, w]: [usize; 4]) -> Result<()> {
    if n > 0 && c > 0 && (h == 0 || w == 0) {
        return Err(Error::shape(
            op,
            format!(
                "Only zero batch or zero channel inputs are supported, but got input shape: \
                 {:?}",
                [n, c, h, w]
            ),
        ));
    }
    Ok(())
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
    /// `floor((input + 2p - span (+ s - 1 with ceil_mode)) / s) + 1`, and with `ceil_mode` the
    /// last window must start inside the input or its left padding. `None` below 1. (With
    /// `ceil_mode` a window wider than the padded input still gives one output: a 3x3 stride-2
    /// pool of a 2x2 map is 1x1.)
    pub fn output_size(&self, dim: usize, input: usize) -> Option<usize> {
        let (k, s, p, d) = (
            self.kernel[dim] as i128,
            self.stride[dim] as i128,
            self.padding[dim] as i128,
            self.dilation[dim] as i128,
        );
        let input = input as i128;
        if k < 1 || s < 1 {
            return None;
        }
        let span = d * (k - 1) + 1;
        let rounding = if self.ceil_mode { s - 1 } else { 0 };
        let mut out = (input + 2 * p - span + rounding).div_euclid(s) + 1;
        if self.ceil_mode && (out - 1) * s >= input + p {
            out -= 1;
        }
        usize::try_from(out).ok().filter(|&o| o >= 1)
    }

    /// The output size `[oh, ow]` of an `h x w` input: kernel, stride and dilation must be
    /// positive and each (dilated) window must fit the padded input.
    pub fn check_output_size(&self, op: &'static str, [h, w]: [usize; 2]) -> Result<[usize; 2]> {
        let positive = |v: [usize; 2]| v.iter().all(|&x| x > 0);
        if !positive(self.kernel) || !positive(self.stride) || !positive(self.dilation) {
            return Err(Error::invalid(
                op,
                format!(
                    "kernel {:?}, stride {:?} and dilation {:?} must be positive",
                    self.kernel, self.stride, self.dilation
                ),
            ));
        }
        match (self.output_size(0, h), self.output_size(1, w)) {
            (Some(oh), Some(ow)) => Ok([oh, ow]),
            _ => Err(Error::shape(
                op,
                format!(
                    "a {:?} window (dilation {:?}, padding {:?}) does not fit an input of {h}x{w}",
                    self.kernel, self.dilation, self.padding
                ),
            )),
        }
    }

    /// Errors when these parameters ask for what average pooling does not have (dilation, a
    /// zero divisor).
    pub fn check_avg(&self, op: &'static str) -> Result<()> {
        if self.dilation != [1, 1] {
            return Err(Error::invalid(op, "average pooling has no dilation"));
        }
        if self.divisor_override == Some(0) {
            return Err(Error::invalid(op, "divisor must be not zero"));
        }
        Ok(())
    }

    /// `max_pool2d`'s checks: a 4-D input inside its storage and these parameters. Returns the
    /// input dims and the output size `[oh, ow]`.
    pub fn check_max_pool2d<S: BackendStorage>(
        &self,
        input: View<'_, S>,
    ) -> Result<([usize; 4], [usize; 2])> {
        let op = "max_pool2d";
        let dims = check_pool_view(op, input.layout, input.storage.len())?;
        Ok((dims, self.check_output_size(op, [dims[2], dims[3]])?))
    }

    /// `avg_pool2d`'s checks: average-pooling parameters, a 4-D input inside its storage.
    /// Returns the input dims and the output size `[oh, ow]`.
    pub fn check_avg_pool2d<S: BackendStorage>(
        &self,
        input: View<'_, S>,
    ) -> Result<([usize; 4], [usize; 2])> {
        let op = "avg_pool2d";
        self.check_avg(op)?;
        let dims = check_pool_view(op, input.layout, input.storage.len())?;
        Ok((dims, self.check_output_size(op, [dims[2], dims[3]])?))
    }

    /// `avg_pool2d_backward`'s checks: average-pooling parameters, and a 4-D `grad_output`
    /// inside its storage of the pooled shape of `input_dims`. Returns `grad_output`'s dims.
    pub fn check_avg_pool2d_backward<S: BackendStorage>(
        &self,
        grad_output: View<'_, S>,
        input_dims: [usize; 4],
    ) -> Result<[usize; 4]> {
        let op = "avg_pool2d_backward";
        self.check_avg(op)?;
        let dims = check_pool_grad(op, grad_output, input_dims)?;
        let [oh, ow] = self.check_output_size(op, [input_dims[2], input_dims[3]])?;
        if dims[2..] != [oh, ow] {
            return Err(Error::shape(
                op,
                format!(
                    "grad_output of shape {dims:?} does not match the pooled shape [{oh}, {ow}]"
                ),
            ));
        }
        Ok(dims)
    }
}

/// The dims of a pooling operand: a 4-D `[N, C, H, W]` view inside a storage of `len` elements.
/// A 4-D operand's dims: `[N, C, H, W]` for data, `[O, C / groups, kh, kw]` for weights;
/// an error naming `op` and `what` for any other rank.
pub fn conv_dims(op: &'static str, what: &str, layout: &Layout) -> Result<[usize; 4]> {
    layout.dims().try_into().map_err(|_| {
        Error::shape(
            op,
            format!(
                "expected a 4-D {what} [N, C, H, W], got {:?}",
                layout.dims()
            ),
        )
    })
}

/// That `layout` has exactly the dims `want` (a gradient of the output's shape, say).
pub fn check_conv_dims(
    op: &'static str,
    what: &str,
    layout: &Layout,
    want: [usize; 4],
) -> Result<()> {
    if layout.dims() != want {
        return Err(Error::shape(
            op,
            format!("expected {what} of shape {want:?}, got {:?}", layout.dims()),
        ));
    }
    Ok(())
}

/// The one dtype of all of an op's operands.
pub fn check_same_dtype<S: BackendStorage>(op: &'static str, storages: &[&S]) -> Result<DType> {
    let dtype = storages[0].dtype();
    if let Some(other) = storages.iter().find(|s| s.dtype() != dtype) {
        return Err(Error::DType {
            op,
            expected: format!("every operand of dtype {dtype}"),
            got: other.dtype(),
        });
    }
    Ok(dtype)
}

fn check_pool_view(op: &'static str, layout: &Layout, len: usize) -> Result<[usize; 4]> {
    let Ok(dims) = <[usize; 4]>::try_from(layout.dims()) else {
        return Err(Error::shape(
            op,
            format!(
                "expected a 4-D [N, C, H, W] view, got shape {:?}",
                layout.dims()
            ),
        ));
    };
    check_extent(op, layout, len)?;
    Ok(dims)
}

/// The dims of a pooling gradient: a 4-D view inside its storage with the batch and channel
/// dims of `input_dims`.
fn check_pool_grad<S: BackendStorage>(
    op: &'static str,
    grad_output: View<'_, S>,
    input_dims: [usize; 4],
) -> Result<[usize; 4]> {
    let dims = check_pool_view(op, grad_output.layout, grad_output.storage.len())?;
    if dims[..2] != input_dims[..2] {
        return Err(Error::shape(
            op,
            format!(
                "grad_output of shape {dims:?} does not match an input of shape {input_dims:?}"
            ),
        ));
    }
    Ok(dims)
}

/// `max_pool2d_backward`'s checks: `grad_output` as for every pooling gradient, and `I64`
/// `indices` of its shape inside their storage. Returns `grad_output`'s dims.
pub fn check_max_pool2d_backward<S: BackendStorage>(
    grad_output: View<'_, S>,
    indices: View<'_, S>,
    input_dims: [usize; 4],
) -> Result<[usize; 4]> {
    let op = "max_pool2d_backward";
    let dims = check_pool_grad(op, grad_output, input_dims)?;
    let idims = check_pool_view(op, indices.layout, indices.storage.len())?;
    if idims != dims {
        return Err(Error::shape(
            op,
            format!("indices of shape {idims:?} do not match grad_output of shape {dims:?}"),
        ));
    }
    if indices.storage.dtype() != DType::I64 {
        return Err(Error::DType {
            op,
            expected: "int64 indices".to_string(),
            got: indices.storage.dtype(),
        });
    }
    Ok(dims)
}

/// Adaptive windows need a positive output size, and a positive input size where they exist.
fn check_adaptive(op: &'static str, output: [usize; 2], input: [usize; 2]) -> Result<()> {
    if output.contains(&0) || input.contains(&0) {
        return Err(Error::shape(
            op,
            format!("cannot pool an input of {input:?} to an output of {output:?}"),
        ));
    }
    Ok(())
}

/// `adaptive_avg_pool2d`'s checks: a 4-D input inside its storage, positive input and output
/// sizes. Returns the input dims.
pub fn check_adaptive_avg_pool2d<S: BackendStorage>(
    input: View<'_, S>,
    output_size: [usize; 2],
) -> Result<[usize; 4]> {
    let op = "adaptive_avg_pool2d";
    let dims = check_pool_view(op, input.layout, input.storage.len())?;
    check_adaptive(op, output_size, [dims[2], dims[3]])?;
    Ok(dims)
}

/// `adaptive_avg_pool2d_backward`'s checks: `grad_output` as for every pooling gradient, its
/// spatial size and `input_dims`' positive. Returns `grad_output`'s dims.
pub fn check_adaptive_avg_pool2d_backward<S: BackendStorage>(
    grad_output: View<'_, S>,
    input_dims: [usize; 4],
) -> Result<[usize; 4]> {
    let op = "adaptive_avg_pool2d_backward";
    let dims = check_pool_grad(op, grad_output, input_dims)?;
    check_adaptive(op, [dims[2], dims[3]], [input_dims[2], input_dims[3]])?;
    Ok(dims)
}

/// What `batch_norm`'s forward returns besides the output, for its backward: the per-channel
/// mean and inverse standard deviation of the batch (training) or of the running statistics
/// (evaluation), as PyTorch's `save_mean` / `save_invstd`, and the `eps` they were computed
/// with (cuDNN's backward asks for the forward's `eps`, as PyTorch passes it).
#[derive(Debug)]
pub struct BatchNormSaved<S> {
    pub mean: S,
    pub invstd: S,
    pub eps: f64,
}

impl<S: BackendStorage> BatchNormSaved<S> {
    /// Checks both statistics: `channels` values each, in `F32` or `F64` (backends may ask
    /// for their own compute type on top).
    pub fn check(&self, op: &'static str, channels: usize) -> Result<()> {
        for s in [&self.mean, &self.invstd] {
            if !matches!(s.dtype(), DType::F32 | DType::F64) {
                return Err(Error::DType {
                    op,
                    expected: "saved statistics in float32 or float64".to_string(),
                    got: s.dtype(),
                });
            }
            if s.len() != channels {
                return Err(Error::shape(
                    op,
                    format!(
                        "saved statistics hold {} values for {channels} channels",
                        s.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The channels of a batch-norm input: an `[N, C, *]` view inside a storage of `len` elements.
fn check_batch_norm_input(op: &'static str, layout: &Layout, len: usize) -> Result<usize> {
    if layout.ndim() < 2 {
        return Err(Error::shape(
            op,
            format!("expected an input [N, C, *], got shape {:?}", layout.dims()),
        ));
    }
    check_extent(op, layout, len)?;
    Ok(layout.dims()[1])
}

/// Checks a batch-norm `[C]` parameter: 1-D, `C` elements, the input's dtype, inside its
/// storage.
fn check_batch_norm_param<S: BackendStorage>(
    op: &'static str,
    name: &str,
    param: View<'_, S>,
    channels: usize,
    dtype: DType,
) -> Result<()> {
    let (layout, storage) = (param.layout, param.storage);
    if layout.dims() != [channels] {
        return Err(Error::shape(
            op,
            format!(
                "{name} should be a [{channels}] tensor, got shape {:?}",
                layout.dims()
            ),
        ));
    }
    if storage.dtype() != dtype {
        return Err(Error::DType {
            op,
            expected: format!("{name} of the input's dtype {dtype}"),
            got: storage.dtype(),
        });
    }
    check_extent(op, layout, storage.len())
}

/// `batch_norm`'s checks, as [`Backend::batch_norm`](crate::Backend::batch_norm) describes its
/// operands: an `[N, C, *]` input inside its storage; `weight`, `bias`, `running_mean` and
/// `running_var`, where given, `[C]` views of the input's dtype inside their storages; the
/// running statistics given in evaluation. Returns `C`. Float-only support is the backends'
/// to report (`Error::Unsupported` names the backend).
pub fn check_batch_norm<S: BackendStorage>(
    input: View<'_, S>,
    weight: Option<View<'_, S>>,
    bias: Option<View<'_, S>>,
    running_mean: Option<View<'_, S>>,
    running_var: Option<View<'_, S>>,
    training: bool,
) -> Result<usize> {
    let op = "batch_norm";
    let c = check_batch_norm_input(op, input.layout, input.storage.len())?;
    let dtype = input.storage.dtype();
    let params = [
        ("weight", weight),
        ("bias", bias),
        ("running_mean", running_mean),
        ("running_var", running_var),
    ];
    for (name, v) in params {
        if let Some(v) = v {
            check_batch_norm_param(op, name, v, c, dtype)?;
        }
    }
    if !training && (running_mean.is_none() || running_var.is_none()) {
        return Err(Error::invalid(
            op,
            "running_mean and running_var must be defined in evaluation mode",
        ));
    }
    Ok(c)
}

/// `batch_norm_backward`'s checks: the input as in [`check_batch_norm`], a `grad_output` of its
/// shape and dtype inside its storage, `weight` (where given) and the saved statistics
/// ([`BatchNormSaved::check`]) of `C` channels. Returns `C`.
pub fn check_batch_norm_backward<S: BackendStorage>(
    grad_output: View<'_, S>,
    input: View<'_, S>,
    weight: Option<View<'_, S>>,
    saved: &BatchNormSaved<S>,
) -> Result<usize> {
    let op = "batch_norm_backward";
    let c = check_batch_norm_input(op, input.layout, input.storage.len())?;
    check_extent(op, grad_output.layout, grad_output.storage.len())?;
    if grad_output.layout.dims() != input.layout.dims() {
        return Err(Error::shape(
            op,
            format!(
                "grad_output of shape {:?} does not match the input's {:?}",
                grad_output.layout.dims(),
                input.layout.dims()
            ),
        ));
    }
    let dtype = input.storage.dtype();
    if grad_output.storage.dtype() != dtype {
        return Err(Error::DType {
            op,
            expected: format!("grad_output of the input's dtype {dtype}"),
            got: grad_output.storage.dtype(),
        });
    }
    if let Some(w) = weight {
        check_batch_norm_param(op, "weight", w, c, dtype)?;
    }
    saved.check(op, c)?;
    Ok(c)
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

#[cfg(test)]
mod backend_check_tests {
    use super::*;
    use crate::FakeStorage;

    fn storage(dtype: DType, len: usize) -> FakeStorage {
        FakeStorage { dtype, len }
    }

    fn pool(kernel: usize, stride: usize) -> Pool2dParams {
        Pool2dParams {
            kernel: [kernel; 2],
            stride: [stride; 2],
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }

    #[test]
    fn pooling_checks() {
        let x = storage(DType::F32, 2 * 3 * 4 * 4);
        let xl = Layout::contiguous([2, 3, 4, 4]);
        let (dims, out) = pool(2, 2).check_max_pool2d(View::new(&x, &xl)).unwrap();
        assert_eq!((dims, out), ([2, 3, 4, 4], [2, 2]));
        let zero = pool(2, 0).check_avg_pool2d(View::new(&x, &xl)).unwrap_err();
        assert!(zero.to_string().contains("must be positive"), "{zero}");
        let big = pool(5, 1).check_max_pool2d(View::new(&x, &xl)).unwrap_err();
        assert!(
            big.to_string().contains("does not fit an input of 4x4"),
            "{big}"
        );
        let flat = Layout::contiguous([2, 3, 16]);
        let err = pool(2, 2)
            .check_max_pool2d(View::new(&x, &flat))
            .unwrap_err();
        assert!(err.to_string().contains("4-D [N, C, H, W]"), "{err}");
        let mut dilated = pool(2, 2);
        dilated.dilation = [2, 2];
        assert!(dilated.check_avg_pool2d(View::new(&x, &xl)).is_err());

        let g = storage(DType::F32, 2 * 3 * 2 * 2);
        let gl = Layout::contiguous([2, 3, 2, 2]);
        let input = [2, 3, 4, 4];
        let p = pool(2, 2);
        assert!(
            p.check_avg_pool2d_backward(View::new(&g, &gl), input)
                .is_ok()
        );
        let err = p
            .check_avg_pool2d_backward(View::new(&g, &gl), [2, 3, 6, 6])
            .unwrap_err();
        assert!(err.to_string().contains("pooled shape [3, 3]"), "{err}");
        let err = p
            .check_avg_pool2d_backward(View::new(&g, &gl), [2, 4, 4, 4])
            .unwrap_err();
        assert!(err.to_string().contains("does not match an input"), "{err}");

        let (i64s, f32s) = (storage(DType::I64, 24), storage(DType::F32, 24));
        let ok = check_max_pool2d_backward(View::new(&g, &gl), View::new(&i64s, &gl), input);
        assert_eq!(ok.unwrap(), [2, 3, 2, 2]);
        let bad = check_max_pool2d_backward(View::new(&g, &gl), View::new(&f32s, &gl), input);
        assert!(matches!(bad, Err(Error::DType { .. })));

        assert!(check_adaptive_avg_pool2d(View::new(&x, &xl), [1, 1]).is_ok());
        let err = check_adaptive_avg_pool2d(View::new(&x, &xl), [0, 1]).unwrap_err();
        assert!(err.to_string().contains("cannot pool"), "{err}");
        assert!(check_adaptive_avg_pool2d_backward(View::new(&g, &gl), [2, 3, 0, 4]).is_err());
    }

    #[test]
    fn batch_norm_checks() {
        let x = storage(DType::F32, 2 * 3 * 4);
        let xl = Layout::contiguous([2, 3, 4]);
        let (p3, p4) = (storage(DType::F32, 3), storage(DType::F32, 4));
        let (c3, c4) = (Layout::contiguous([3]), Layout::contiguous([4]));
        let v = |s, l| Some(View::new(s, l));
        let input = View::new(&x, &xl);
        let c = check_batch_norm(input, v(&p3, &c3), v(&p3, &c3), None, None, true).unwrap();
        assert_eq!(c, 3);
        let err = check_batch_norm(input, None, None, v(&p4, &c4), None, true).unwrap_err();
        assert!(
            err.to_string()
                .contains("running_mean should be a [3] tensor"),
            "{err}"
        );
        let err = check_batch_norm(input, None, None, None, None, false).unwrap_err();
        assert!(err.to_string().contains("evaluation mode"), "{err}");
        let f64s = storage(DType::F64, 3);
        let err = check_batch_norm(input, v(&f64s, &c3), None, None, None, true).unwrap_err();
        assert!(
            err.to_string()
                .contains("weight of the input's dtype float32"),
            "{err}"
        );
        let one_d = Layout::contiguous([24]);
        let err = check_batch_norm(View::new(&x, &one_d), None, None, None, None, true);
        assert!(err.unwrap_err().to_string().contains("[N, C, *]"));

        let saved = BatchNormSaved {
            mean: storage(DType::F32, 3),
            invstd: storage(DType::F64, 3),
            eps: 1e-5,
        };
        let c = check_batch_norm_backward(input, input, v(&p3, &c3), &saved).unwrap();
        assert_eq!(c, 3);
        let g2 = Layout::contiguous([2, 4, 3]);
        let err = check_batch_norm_backward(View::new(&x, &g2), input, None, &saved).unwrap_err();
        assert!(
            err.to_string().contains("does not match the input's"),
            "{err}"
        );
        let short = BatchNormSaved {
            mean: storage(DType::F32, 3),
            invstd: storage(DType::F32, 2),
            eps: 1e-5,
        };
        let err = check_batch_norm_backward(input, input, None, &short).unwrap_err();
        assert!(
            err.to_string().contains("hold 2 values for 3 channels"),
            "{err}"
        );
        let ints = BatchNormSaved {
            mean: storage(DType::I32, 3),
            invstd: storage(DType::F32, 3),
            eps: 1e-5,
        };
        assert!(check_batch_norm_backward(input, input, None, &ints).is_err());
    }
}
