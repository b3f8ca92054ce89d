//! Transforms (`torchvision.transforms`), applied to an [`Image`] in the loader's workers.
//!
//! A random transform draws from the [`SampleRng`] of the sample (seeded by `(seed, epoch,
//! index)`), in the order the transforms run, so the same sample in the same epoch gets the
//! same crop and flip whichever worker loads it. What each draws:
//!
//! - `RandomHorizontalFlip`, `RandomVerticalFlip`: one uniform (`u < p` flips).
//! - `RandomCrop`: two integers (top, then left), none when the (padded) image already has the
//!   crop's size.
//! - `RandomResizedCrop`: per attempt a scale and a log-ratio uniform, then top and left for the
//!   accepted attempt (torchvision's order).

use crate::image::{Image, Pixels};
use crate::rng::SampleRng;
use tiny_torch_core::{Error, Result};

/// An image transform. Any `Fn(Image, &mut SampleRng) -> Result<Image> + Send + Sync` closure
/// is one (torchvision's `Lambda`).
pub trait Transform: Send + Sync {
    fn apply(&self, image: Image, rng: &mut SampleRng) -> Result<Image>;
}

impl<F> Transform for F
where
    F: Fn(Image, &mut SampleRng) -> Result<Image> + Send + Sync,
{
    fn apply(&self, image: Image, rng: &mut SampleRng) -> Result<Image> {
        self(image, rng)
    }
}

impl Transform for Box<dyn Transform> {
    fn apply(&self, image: Image, rng: &mut SampleRng) -> Result<Image> {
        (**self).apply(image, rng)
    }
}

/// `Compose`: the transforms one after the other.
#[derive(Default)]
pub struct Compose {
    transforms: Vec<Box<dyn Transform>>,
}

impl Compose {
    pub fn new() -> Self {
        Compose::default()
    }

    /// Appends a transform: `Compose::new().then(ToTensor).then(Normalize::new(..))`.
    #[allow(clippy::should_implement_trait)]
    pub fn then(mut self, transform: impl Transform + 'static) -> Self {
        self.transforms.push(Box::new(transform));
        self
    }

    pub fn len(&self) -> usize {
        self.transforms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transforms.is_empty()
    }
}

impl Transform for Compose {
    fn apply(&self, mut image: Image, rng: &mut SampleRng) -> Result<Image> {
        for t in &self.transforms {
            image = t.apply(image, rng)?;
        }
        Ok(image)
    }
}

/// `ToTensor`: `u8` values to `f32` in `[0, 1]` (divided by 255), CHW kept. (An image read
/// from HWC data was transposed to CHW by `Image::from_hwc_u8`.) An `f32` image is unchanged,
/// as torchvision leaves non-uint8 arrays unscaled.
#[derive(Clone, Copy, Debug, Default)]
pub struct ToTensor;

impl Transform for ToTensor {
    fn apply(&self, image: Image, _rng: &mut SampleRng) -> Result<Image> {
        let [c, h, w] = image.shape();
        match image.into_pixels() {
            Pixels::U8(v) => {
                Image::from_chw_f32(v.into_iter().map(|x| x as f32 / 255.0).collect(), c, h, w)
            }
            p @ Pixels::F32(_) => Image::new(p, c, h, w),
        }
    }
}

/// `Normalize(mean, std)`: `(x - mean[c]) / std[c]` per channel on an `f32` image (apply
/// `ToTensor` first). One value broadcasts to every channel.
#[derive(Clone, Debug)]
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    pub fn new(mean: &[f32], std: &[f32]) -> Result<Self> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(Error::invalid(
                "Normalize",
                format!(
                    "mean and std must be non-empty and of one length, got {} and {}",
                    mean.len(),
                    std.len()
                ),
            ));
        }
        if std.contains(&0.0) {
            return Err(Error::invalid(
                "Normalize",
                format!("std evaluated to zero, leading to division by zero ({std:?})"),
            ));
        }
        Ok(Normalize {
            mean: mean.to_vec(),
            std: std.to_vec(),
        })
    }
}

impl Transform for Normalize {
    fn apply(&self, image: Image, _rng: &mut SampleRng) -> Result<Image> {
        let [c, h, w] = image.shape();
        if self.mean.len() != 1 && self.mean.len() != c {
            return Err(Error::shape(
                "Normalize",
                format!(
                    "{} means and stds for an image of {c} channels",
                    self.mean.len()
                ),
            ));
        }
        let mut v = match image.into_pixels() {
            Pixels::F32(v) => v,
            Pixels::U8(_) => {
                return Err(Error::invalid(
                    "Normalize",
                    "input should be a float image, got uint8 (apply ToTensor first)",
                ));
            }
        };
        let plane = h * w;
        for ch in 0..c {
            let k = if self.mean.len() == 1 { 0 } else { ch };
            let (m, s) = (self.mean[k], self.std[k]);
            for x in &mut v[ch * plane..(ch + 1) * plane] {
                *x = (*x - m) / s;
            }
        }
        Image::from_chw_f32(v, c, h, w)
    }
}

/// `RandomHorizontalFlip(p)`.
#[derive(Clone, Copy, Debug)]
pub struct RandomHorizontalFlip {
    p: f64,
}

impl RandomHorizontalFlip {
    pub fn new(p: f64) -> Self {
        RandomHorizontalFlip { p }
    }
}

impl Default for RandomHorizontalFlip {
    fn default() -> Self {
        RandomHorizontalFlip { p: 0.5 }
    }
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, image: Image, rng: &mut SampleRng) -> Result<Image> {
        Ok(if rng.uniform() < self.p {
            image.hflip()
        } else {
            image
        })
    }
}

/// `RandomVerticalFlip(p)`.
#[derive(Clone, Copy, Debug)]
pub struct RandomVerticalFlip {
    p: f64,
}

impl RandomVerticalFlip {
    pub fn new(p: f64) -> Self {
        RandomVerticalFlip { p }
    }
}

impl Transform for RandomVerticalFlip {
    fn apply(&self, image: Image, rng: &mut SampleRng) -> Result<Image> {
        Ok(if rng.uniform() < self.p {
            image.vflip()
        } else {
            image
        })
    }
}

/// `RandomCrop(size, padding)`: zero-pads by `padding` (left, top, right, bottom), then crops a
/// `height x width` window at a uniformly drawn position. With `pad_if_needed`, an image
/// smaller than the crop is padded up to it (as torchvision) instead of failing.
#[derive(Clone, Copy, Debug)]
pub struct RandomCrop {
    height: usize,
    width: usize,
    padding: [usize; 4],
    pad_if_needed: bool,
}

impl RandomCrop {
    /// A square `size x size` crop, no padding.
    pub fn new(size: usize) -> Self {
        Self::with_size(size, size)
    }

    pub fn with_size(height: usize, width: usize) -> Self {
        RandomCrop {
            height,
            width,
            padding: [0; 4],
            pad_if_needed: false,
        }
    }

    /// The same padding on all four sides (`RandomCrop(32, padding=4)`).
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = [padding; 4];
        self
    }

    /// Padding `[left, top, right, bottom]`.
    pub fn padding_ltrb(mut self, padding: [usize; 4]) -> Self {
        self.padding = padding;
        self
    }

    pub fn pad_if_needed(mut self, pad_if_needed: bool) -> Self {
        self.pad_if_needed = pad_if_needed;
        self
    }
}

impl Transform for RandomCrop {
    fn apply(&self, image: Image, rng: &mut SampleRng) -> Result<Image> {
        let [l, t, r, b] = self.padding;
        let mut image = if self.padding == [0; 4] {
            image
        } else {
            image.pad(l, t, r, b)
        };
        if self.pad_if_needed && image.width() < self.width {
            let d = self.width - image.width();
            image = image.pad(d, 0, d, 0);
        }
        if self.pad_if_needed && image.height() < self.height {
            let d = self.height - image.height();
            image = image.pad(0, d, 0, d);
        }
        let (h, w) = (image.height(), image.width());
        if h < self.height || w < self.width {
            return Err(Error::invalid(
                "RandomCrop",
                format!(
                    "required crop size {}x{} is larger than the (padded) input image size {h}x{w}",
                    self.height, self.width
                ),
            ));
        }
        if h == self.height && w == self.width {
            return Ok(image);
        }
        let top = rng.randint(0, (h - self.height + 1) as i64);
        let left = rng.randint(0, (w - self.width + 1) as i64);
        Ok(image.crop(top as isize, left as isize, self.height, self.width))
    }
}

/// `CenterCrop(size)`: the centered window, offsets `round((H - h) / 2)` and
/// `round((W - w) / 2)` rounding half to even as Python's `round`; a crop larger than the
/// image is zero-padded (as torchvision).
#[derive(Clone, Copy, Debug)]
pub struct CenterCrop {
    height: usize,
    width: usize,
}

impl CenterCrop {
    pub fn new(size: usize) -> Self {
        CenterCrop {
            height: size,
            width: size,
        }
    }

    pub fn with_size(height: usize, width: usize) -> Self {
        CenterCrop { height, width }
    }
}

/// torchvision's `center_crop` offset along one axis (negative: the crop pads).
fn center_offset(size: usize, crop: usize) -> isize {
    if crop > size {
        // torchvision pads `(crop - size) // 2` before (and the rest after), then crops at 0.
        -(((crop - size) / 2) as isize)
    } else {
        ((size - crop) as f64 / 2.0).round_ties_even() as isize
    }
}

impl Transform for CenterCrop {
    fn apply(&self, image: Image, _rng: &mut SampleRng) -> Result<Image> {
        let top = center_offset(image.height(), self.height);
        let left = center_offset(image.width(), self.width);
        Ok(image.crop(top, left, self.height, self.width))
    }
}

/// `Resize(size)`: bilinear (see [`Image::resize`]: `antialias=False` semantics). With one
/// number the smaller edge becomes `size` and the other keeps the aspect ratio
/// (`int(size * long / short)`, as torchvision); with two, the exact `height x width`.
#[derive(Clone, Copy, Debug)]
pub struct Resize {
    size: ResizeTo,
}

#[derive(Clone, Copy, Debug)]
enum ResizeTo {
    Shorter(usize),
    Exact(usize, usize),
}

impl Resize {
    /// The smaller edge to `size`.
    pub fn new(size: usize) -> Self {
        Resize {
            size: ResizeTo::Shorter(size),
        }
    }

    /// Exactly `height x width`.
    pub fn exact(height: usize, width: usize) -> Self {
        Resize {
            size: ResizeTo::Exact(height, width),
        }
    }

    /// The output size for an `h x w` input.
    pub fn output_size(&self, h: usize, w: usize) -> (usize, usize) {
        match self.size {
            ResizeTo::Exact(oh, ow) => (oh, ow),
            ResizeTo::Shorter(s) => {
                let (short, long) = if w <= h { (w, h) } else { (h, w) };
                let new_long = if short == 0 {
                    0
                } else {
                    (s as f64 * long as f64 / short as f64) as usize
                };
                if w <= h { (new_long, s) } else { (s, new_long) }
            }
        }
    }
}

impl Transform for Resize {
    fn apply(&self, image: Image, _rng: &mut SampleRng) -> Result<Image> {
        let (h, w) = self.output_size(image.height(), image.width());
        image.resize(h, w)
    }
}

/// `RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3/4, 4/3))`: torchvision's algorithm —
/// up to 10 attempts drawing an area fraction in `scale` and a log-uniform aspect ratio in
/// `ratio`, taking the first window that fits at a uniform position; else the center crop of
/// the whole image clamped to `ratio`. The window is then resized (bilinear) to the output size.
#[derive(Clone, Copy, Debug)]
pub struct RandomResizedCrop {
    height: usize,
    width: usize,
    scale: (f64, f64),
    ratio: (f64, f64),
}

impl RandomResizedCrop {
    pub fn new(size: usize) -> Self {
        Self::with_size(size, size)
    }

    pub fn with_size(height: usize, width: usize) -> Self {
        RandomResizedCrop {
            height,
            width,
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
        }
    }

    pub fn scale(mut self, low: f64, high: f64) -> Self {
        self.scale = (low, high);
        self
    }

    pub fn ratio(mut self, low: f64, high: f64) -> Self {
        self.ratio = (low, high);
        self
    }

    /// `RandomResizedCrop.get_params`: `(top, left, height, width)` of the window.
    pub fn params(
        &self,
        height: usize,
        width: usize,
        rng: &mut SampleRng,
    ) -> (usize, usize, usize, usize) {
        let area = (height * width) as f64;
        let (log_lo, log_hi) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target_area = area * rng.uniform_range(self.scale.0, self.scale.1);
            let aspect = rng.uniform_range(log_lo, log_hi).exp();
            let w = (target_area * aspect).sqrt().round_ties_even() as usize;
            let h = (target_area / aspect).sqrt().round_ties_even() as usize;
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = rng.randint(0, (height - h + 1) as i64) as usize;
                let left = rng.randint(0, (width - w + 1) as i64) as usize;
                return (top, left, h, w);
            }
        }
        let in_ratio = width as f64 / height as f64;
        let (lo, hi) = (
            self.ratio.0.min(self.ratio.1),
            self.ratio.0.max(self.ratio.1),
        );
        let (h, w) = if in_ratio < lo {
            ((width as f64 / lo).round_ties_even() as usize, width)
        } else if in_ratio > hi {
            (height, (height as f64 * hi).round_ties_even() as usize)
        } else {
            (height, width)
        };
        ((height - h) / 2, (width - w) / 2, h, w)
    }
}

impl Transform for RandomResizedCrop {
    fn apply(&self, image: Image, rng: &mut SampleRng) -> Result<Image> {
        if image.height() == 0 || image.width() == 0 {
            return Err(Error::invalid("RandomResizedCrop", "empty image"));
        }
        let (top, left, h, w) = self.params(image.height(), image.width(), rng);
        image
            .crop(top as isize, left as isize, h, w)
            .resize(self.height, self.width)
    }
}
