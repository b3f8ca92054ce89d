//! [`Image`]: the host image type that readers return and transforms work on.
//!
//! An image is `channels x height x width` values in CHW order (as a torchvision tensor image),
//! either `u8` (as decoded) or `f32` (after [`crate::transforms::ToTensor`]). Transforms run on
//! it in the loader's worker threads, with no backend involved; the collate function turns a
//! batch of images into one tensor on the backend of the user's choice.

use tiny_torch_core::{Backend, Error, Result};
use tiny_torch_tensor::Tensor;

/// The pixel values of an [`Image`], in CHW order.
#[derive(Clone, Debug, PartialEq)]
pub enum Pixels {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

impl Pixels {
    pub fn len(&self) -> usize {
        match self {
            Pixels::U8(v) => v.len(),
            Pixels::F32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `"uint8"` or `"float32"`, as PyTorch names the dtypes.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            Pixels::U8(_) => "uint8",
            Pixels::F32(_) => "float32",
        }
    }
}

/// A pixel type: `u8` or `f32`. Geometric transforms are written once for both.
pub trait Pixel: Copy + Default + Send + Sync + 'static {
    fn to_f32(self) -> f32;
    /// From an interpolated value: `u8` rounds half to even and saturates (as torchvision
    /// rounds the float result of a uint8 resize), `f32` is exact.
    fn from_f32(v: f32) -> Self;
}

impl Pixel for u8 {
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn from_f32(v: f32) -> Self {
        v.round_ties_even().clamp(0.0, 255.0) as u8
    }
}

impl Pixel for f32 {
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> Self {
        v
    }
}

/// Applies `$body` to the pixel vector whatever its type, keeping the type.
macro_rules! map_pixels {
    ($pixels:expr, |$d:ident| $body:expr) => {
        match $pixels {
            Pixels::U8($d) => Pixels::U8($body),
            Pixels::F32($d) => Pixels::F32($body),
        }
    };
}

/// A `channels x height x width` image (CHW order), `u8` or `f32`.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pixels: Pixels,
    channels: usize,
    height: usize,
    width: usize,
}

impl Image {
    /// An image from pixels in CHW order; the length must be `channels * height * width`.
    pub fn new(pixels: Pixels, channels: usize, height: usize, width: usize) -> Result<Self> {
        let numel = channels
            .checked_mul(height)
            .and_then(|n| n.checked_mul(width))
            .ok_or_else(|| Error::invalid("Image::new", "size overflows usize"))?;
        if pixels.len() != numel {
            return Err(Error::shape(
                "Image::new",
                format!(
                    "{channels}x{height}x{width} (CHW) holds {numel} values, but {} were given",
                    pixels.len()
                ),
            ));
        }
        Ok(Image {
            pixels,
            channels,
            height,
            width,
        })
    }

    /// A `u8` image from CHW data.
    pub fn from_chw_u8(
        data: Vec<u8>,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<Self> {
        Self::new(Pixels::U8(data), channels, height, width)
    }

    /// An `f32` image from CHW data.
    pub fn from_chw_f32(
        data: Vec<f32>,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<Self> {
        Self::new(Pixels::F32(data), channels, height, width)
    }

    /// A `u8` image from HWC data (interleaved, as image files and numpy arrays hold it),
    /// transposed to CHW.
    pub fn from_hwc_u8(data: &[u8], height: usize, width: usize, channels: usize) -> Result<Self> {
        let len = height
            .checked_mul(width)
            .and_then(|hw| hw.checked_mul(channels));
        if len != Some(data.len()) {
            let holds = len.map_or("more than usize::MAX".to_string(), |n| n.to_string());
            return Err(Error::shape(
                "Image::from_hwc_u8",
                format!(
                    "{height}x{width}x{channels} (HWC) holds {holds} values, but {} were given",
                    data.len()
                ),
            ));
        }
        let plane = height * width;
        let mut chw = vec![0u8; data.len()];
        for (p, px) in data.chunks_exact(channels.max(1)).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                chw[c * plane + p] = v;
            }
        }
        Self::from_chw_u8(chw, channels, height, width)
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    pub fn pixels(&self) -> &Pixels {
        &self.pixels
    }

    pub fn into_pixels(self) -> Pixels {
        self.pixels
    }

    /// The value at `(c, y, x)` as `f32` (`u8` values are not scaled); `None` outside the
    /// image.
    pub fn get(&self, c: usize, y: usize, x: usize) -> Option<f32> {
        if c >= self.channels || y >= self.height || x >= self.width {
            return None;
        }
        let i = (c * self.height + y) * self.width + x;
        Some(match &self.pixels {
            Pixels::U8(v) => v[i] as f32,
            Pixels::F32(v) => v[i],
        })
    }

    /// All values as `f32` (`u8` values are not scaled; see `ToTensor` for that).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.pixels {
            Pixels::U8(v) => v.iter().map(|&x| x as f32).collect(),
            Pixels::F32(v) => v.clone(),
        }
    }

    /// The image as a `[C, H, W]` tensor (`uint8` or `float32`).
    pub fn to_tensor<B: Backend>(&self, backend: &B) -> Result<Tensor<B>> {
        let shape = self.shape();
        match &self.pixels {
            Pixels::U8(v) => Tensor::from_slice(v, &shape, backend),
            Pixels::F32(v) => Tensor::from_slice(v, &shape, backend),
        }
    }

    fn with_pixels(&self, pixels: Pixels, height: usize, width: usize) -> Image {
        Image {
            pixels,
            channels: self.channels,
            height,
            width,
        }
    }

    /// `torchvision.transforms.functional.crop`: the `height x width` window whose top-left
    /// corner is `(top, left)`; parts outside the image are zero (so a negative offset pads).
    pub fn crop(&self, top: isize, left: isize, height: usize, width: usize) -> Image {
        let (c, h, w) = (self.channels, self.height, self.width);
        let pixels = map_pixels!(&self.pixels, |src| crop_plane(
            src, c, h, w, top, left, height, width
        ));
        self.with_pixels(pixels, height, width)
    }

    /// Constant zero padding of `left, top, right, bottom` pixels
    /// (`torchvision.transforms.functional.pad` with `fill=0`).
    pub fn pad(&self, left: usize, top: usize, right: usize, bottom: usize) -> Image {
        self.crop(
            -(top as isize),
            -(left as isize),
            self.height + top + bottom,
            self.width + left + right,
        )
    }

    /// Mirror left-right (`hflip`).
    pub fn hflip(&self) -> Image {
        let w = self.width;
        let pixels = map_pixels!(&self.pixels, |src| {
            let mut out = src.clone();
            if w > 0 {
                for row in out.chunks_exact_mut(w) {
                    row.reverse();
                }
            }
            out
        });
        self.with_pixels(pixels, self.height, self.width)
    }

    /// Mirror top-bottom (`vflip`).
    pub fn vflip(&self) -> Image {
        let (h, w) = (self.height, self.width);
        let pixels = map_pixels!(&self.pixels, |src| {
            let mut out = Vec::with_capacity(src.len());
            if w > 0 && h > 0 {
                for plane in src.chunks_exact(h * w) {
                    for row in plane.chunks_exact(w).rev() {
                        out.extend_from_slice(row);
                    }
                }
            }
            out
        });
        self.with_pixels(pixels, self.height, self.width)
    }

    /// Bilinear resize to `height x width`, as `torch.nn.functional.interpolate(mode="bilinear",
    /// align_corners=False, antialias=False)` (torchvision's `resize(..., antialias=False)` on a
    /// tensor): source coordinate `(dst + 0.5) * in / out - 0.5` clamped at 0, the two
    /// neighbours (the last one repeated at the edge). A `u8` image is interpolated in `f32` and
    /// rounded half to even, as torchvision rounds. No antialiasing: when shrinking by more than
    /// 2x this aliases where torchvision's default (`antialias=True`) would blur.
    pub fn resize(&self, height: usize, width: usize) -> Result<Image> {
        if height == 0 || width == 0 {
            return Err(Error::invalid(
                "resize",
                format!("output size must be positive, got {height}x{width}"),
            ));
        }
        if self.height == 0 || self.width == 0 {
            return Err(Error::invalid(
                "resize",
                format!(
                    "cannot resize an empty {}x{} image",
                    self.height, self.width
                ),
            ));
        }
        if height == self.height && width == self.width {
            return Ok(self.clone());
        }
        let ys = linear_taps(self.height, height);
        let xs = linear_taps(self.width, width);
        let (c, h, w) = (self.channels, self.height, self.width);
        let pixels = map_pixels!(&self.pixels, |src| resize_plane(src, c, h, w, &ys, &xs));
        Ok(self.with_pixels(pixels, height, width))
    }
}

#[allow(clippy::too_many_arguments)]
fn crop_plane<P: Pixel>(
    src: &[P],
    channels: usize,
    h: usize,
    w: usize,
    top: isize,
    left: isize,
    out_h: usize,
    out_w: usize,
) -> Vec<P> {
    let mut out = vec![P::default(); channels * out_h * out_w];
    // The columns of the window that fall inside the image.
    let x0 = left.max(0);
    let x1 = (left + out_w as isize).min(w as isize);
    if x1 <= x0 {
        return out;
    }
    let (sx, dx, n) = (x0 as usize, (x0 - left) as usize, (x1 - x0) as usize);
    for c in 0..channels {
        for oy in 0..out_h {
            let y = top + oy as isize;
            if y < 0 || y >= h as isize {
                continue;
            }
            let s = (c * h + y as usize) * w + sx;
            let d = (c * out_h + oy) * out_w + dx;
            out[d..d + n].copy_from_slice(&src[s..s + n]);
        }
    }
    out
}

/// For each output coordinate, `(i0, i1, lambda)`: PyTorch's `area_pixel_compute_source_index`
/// with `align_corners=False`.
fn linear_taps(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|o| {
            let src = (scale * (o as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src as usize).min(input - 1);
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

fn resize_plane<P: Pixel>(
    src: &[P],
    channels: usize,
    h: usize,
    w: usize,
    ys: &[(usize, usize, f32)],
    xs: &[(usize, usize, f32)],
) -> Vec<P> {
    let mut out = Vec::with_capacity(channels * ys.len() * xs.len());
    for c in 0..channels {
        let plane = &src[c * h * w..(c + 1) * h * w];
        for &(y0, y1, ly) in ys {
            let (r0, r1) = (&plane[y0 * w..(y0 + 1) * w], &plane[y1 * w..(y1 + 1) * w]);
            for &(x0, x1, lx) in xs {
                let top = (1.0 - lx) * r0[x0].to_f32() + lx * r0[x1].to_f32();
                let bottom = (1.0 - lx) * r1[x0].to_f32() + lx * r1[x1].to_f32();
                out.push(P::from_f32((1.0 - ly) * top + ly * bottom));
            }
        }
    }
    out
}
