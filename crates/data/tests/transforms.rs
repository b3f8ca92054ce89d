//! Transforms against hand-computed expectations.

use tiny_torch_core::Result;
use tiny_torch_cpu::Cpu;
use tiny_torch_data::transforms::{
    CenterCrop, Compose, Normalize, RandomCrop, RandomHorizontalFlip, RandomResizedCrop, Resize,
    ToTensor, Transform,
};
use tiny_torch_data::{Dataset, Image, Pixels, SampleRng};

fn u8_image(rows: &[&[u8]]) -> Image {
    let (h, w) = (rows.len(), rows[0].len());
    Image::from_chw_u8(rows.concat(), 1, h, w).unwrap()
}

fn f32_image(rows: &[&[f32]]) -> Image {
    let (h, w) = (rows.len(), rows[0].len());
    Image::from_chw_f32(rows.concat(), 1, h, w).unwrap()
}

fn rng() -> SampleRng {
    SampleRng::new(0)
}

#[test]
fn hwc_to_chw_and_to_tensor() -> Result<()> {
    // 1x2 RGB pixels, interleaved.
    let im = Image::from_hwc_u8(&[1, 2, 3, 4, 5, 6], 1, 2, 3)?;
    assert_eq!(im.pixels(), &Pixels::U8(vec![1, 4, 2, 5, 3, 6]));
    let t = ToTensor.apply(Image::from_chw_u8(vec![0, 51, 255], 1, 1, 3)?, &mut rng())?;
    assert_eq!(t.pixels(), &Pixels::F32(vec![0.0, 0.2, 1.0]));
    let tensor = t.to_tensor(&Cpu)?;
    assert_eq!(tensor.dims(), &[1, 1, 3]);
    assert!(Image::from_chw_u8(vec![0; 5], 1, 2, 3).is_err());
    Ok(())
}

#[test]
fn normalize() -> Result<()> {
    let im = Image::from_chw_f32(vec![0.0, 0.5, 1.0, 0.25], 2, 1, 2)?;
    let out = Normalize::new(&[0.5, 0.25], &[0.5, 0.25])?.apply(im.clone(), &mut rng())?;
    // Channel 0: (x - 0.5) / 0.5; channel 1: (x - 0.25) / 0.25.
    assert_eq!(out.to_f32_vec(), vec![-1.0, 0.0, 3.0, 0.0]);
    // One value for every channel.
    let out = Normalize::new(&[1.0], &[2.0])?.apply(im.clone(), &mut rng())?;
    assert_eq!(out.to_f32_vec(), vec![-0.5, -0.25, 0.0, -0.375]);
    assert!(
        Normalize::new(&[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0])?
            .apply(im, &mut rng())
            .is_err()
    );
    assert!(Normalize::new(&[0.0], &[0.0]).is_err());
    assert!(
        Normalize::new(&[0.0], &[1.0])?
            .apply(u8_image(&[&[1]]), &mut rng())
            .is_err()
    );
    Ok(())
}

#[test]
fn flips() -> Result<()> {
    let im = u8_image(&[&[1, 2, 3], &[4, 5, 6]]);
    assert_eq!(im.hflip(), u8_image(&[&[3, 2, 1], &[6, 5, 4]]));
    assert_eq!(im.vflip(), u8_image(&[&[4, 5, 6], &[1, 2, 3]]));
    assert_eq!(
        RandomHorizontalFlip::new(1.0).apply(im.clone(), &mut rng())?,
        im.hflip()
    );
    assert_eq!(
        RandomHorizontalFlip::new(0.0).apply(im.clone(), &mut rng())?,
        im
    );
    // p = 0.5 flips when the sample's first uniform is below 0.5.
    let mut flipped = 0;
    for seed in 0..200 {
        let expect_flip = SampleRng::new(seed).uniform() < 0.5;
        let out = RandomHorizontalFlip::new(0.5).apply(im.clone(), &mut SampleRng::new(seed))?;
        assert_eq!(out, if expect_flip { im.hflip() } else { im.clone() });
        flipped += expect_flip as usize;
    }
    assert!((70..130).contains(&flipped), "{flipped} of 200 flipped");
    Ok(())
}

#[test]
fn crop_and_pad() {
    let im = u8_image(&[&[1, 2], &[3, 4]]);
    assert_eq!(
        im.pad(1, 1, 1, 1),
        u8_image(&[&[0, 0, 0, 0], &[0, 1, 2, 0], &[0, 3, 4, 0], &[0, 0, 0, 0]])
    );
    assert_eq!(im.crop(-1, -1, 2, 2), u8_image(&[&[0, 0], &[0, 1]]));
    assert_eq!(im.crop(1, 0, 2, 3), u8_image(&[&[3, 4, 0], &[0, 0, 0]]));
    assert_eq!(im.crop(5, 5, 1, 1), u8_image(&[&[0]]));
}

#[test]
fn random_crop_with_padding() -> Result<()> {
    // Padded by 1: the 4x4 image below; a 2x2 crop at (top, left) drawn in 0..3 x 0..3.
    let padded: [[u8; 4]; 4] = [[0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0], [0, 0, 0, 0]];
    let im = u8_image(&[&[1, 2], &[3, 4]]);
    let crop = RandomCrop::new(2).padding(1);
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..100 {
        let mut r = SampleRng::new(seed);
        let (top, left) = (r.randint(0, 3) as usize, r.randint(0, 3) as usize);
        seen.insert((top, left));
        let expected = u8_image(&[
            &padded[top][left..left + 2],
            &padded[top + 1][left..left + 2],
        ]);
        assert_eq!(crop.apply(im.clone(), &mut SampleRng::new(seed))?, expected);
    }
    assert_eq!(seen.len(), 9, "every position is reachable");
    // Same size: no draw, the image itself.
    let mut r = rng();
    assert_eq!(RandomCrop::new(2).apply(im.clone(), &mut r)?, im);
    assert_eq!(r.next_u32(), rng().next_u32());
    // Too large without pad_if_needed: an error; with it, padded up.
    assert!(RandomCrop::new(3).apply(im.clone(), &mut rng()).is_err());
    let out = RandomCrop::new(3)
        .pad_if_needed(true)
        .apply(im, &mut rng())?;
    assert_eq!(out.shape(), [1, 3, 3]);
    Ok(())
}

#[test]
fn center_crop() -> Result<()> {
    let a: Vec<u8> = (0..16).collect();
    let im = Image::from_chw_u8(a, 1, 4, 4)?;
    assert_eq!(
        CenterCrop::new(2).apply(im, &mut rng())?,
        u8_image(&[&[5, 6], &[9, 10]])
    );
    // 5x5 to 2x2: offset round(1.5) = 2 (half to even, as Python's round).
    let im = Image::from_chw_u8((0..25).collect(), 1, 5, 5)?;
    assert_eq!(
        CenterCrop::new(2).apply(im, &mut rng())?,
        u8_image(&[&[12, 13], &[17, 18]])
    );
    // Larger than the image: padded, (3 - 2) // 2 = 0 before and 1 after.
    let im = u8_image(&[&[1, 2], &[3, 4]]);
    assert_eq!(
        CenterCrop::new(3).apply(im, &mut rng())?,
        u8_image(&[&[1, 2, 0], &[3, 4, 0], &[0, 0, 0]])
    );
    let im = u8_image(&[&[7]]);
    assert_eq!(
        CenterCrop::new(3).apply(im, &mut rng())?,
        u8_image(&[&[0, 0, 0], &[0, 7, 0], &[0, 0, 0]])
    );
    Ok(())
}

#[test]
fn bilinear_resize_by_hand() -> Result<()> {
    // 2x2 -> 4x4: source coordinates (o + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75,
    // 1.25 (the last pixel repeated), so rows and columns mix as 1, 3/4-1/4, 1/4-3/4, 1.
    let im = f32_image(&[&[0.0, 10.0], &[20.0, 30.0]]);
    let out = Resize::exact(4, 4).apply(im, &mut rng())?;
    assert_eq!(
        out,
        f32_image(&[
            &[0.0, 2.5, 7.5, 10.0],
            &[5.0, 7.5, 12.5, 15.0],
            &[15.0, 17.5, 22.5, 25.0],
            &[20.0, 22.5, 27.5, 30.0],
        ])
    );
    // uint8: the same, rounded half to even.
    let out = Resize::exact(4, 4).apply(u8_image(&[&[0, 10], &[20, 30]]), &mut rng())?;
    assert_eq!(
        out,
        u8_image(&[
            &[0, 2, 8, 10],
            &[5, 8, 12, 15],
            &[15, 18, 22, 25],
            &[20, 22, 28, 30],
        ])
    );
    // 4x4 -> 2x2: coordinates 0.5 and 2.5: the mean of each 2x2 block.
    let im = Image::from_chw_f32((0..16).map(|v| v as f32).collect(), 1, 4, 4)?;
    let out = Resize::exact(2, 2).apply(im, &mut rng())?;
    assert_eq!(out, f32_image(&[&[2.5, 4.5], &[10.5, 12.5]]));
    // One number: the smaller edge, the other int(size * long / short).
    assert_eq!(Resize::new(2).output_size(4, 6), (2, 3));
    assert_eq!(Resize::new(3).output_size(7, 4), (5, 3));
    let out = Resize::new(2).apply(Image::from_chw_u8(vec![9; 24], 1, 4, 6)?, &mut rng())?;
    assert_eq!(out, Image::from_chw_u8(vec![9; 6], 1, 2, 3)?);
    Ok(())
}

#[test]
fn random_resized_crop() -> Result<()> {
    // scale (1, 1) and ratio (1, 1) on a 4x8 image: every attempt asks for a 6x6 window
    // (sqrt(32) rounds to 6), which does not fit, so the fallback: the ratio 2 is above 1,
    // h = 4, w = round(4 * 1) = 4, centered: top 0, left 2.
    let rrc = RandomResizedCrop::new(2).scale(1.0, 1.0).ratio(1.0, 1.0);
    assert_eq!(rrc.params(4, 8, &mut rng()), (0, 2, 4, 4));
    // A square image with that scale and ratio: the whole image every time.
    assert_eq!(rrc.params(6, 6, &mut rng()), (0, 0, 6, 6));
    let im = Image::from_chw_f32((0..16).map(|v| v as f32).collect(), 1, 4, 4)?;
    assert_eq!(rrc.apply(im.clone(), &mut rng())?, im.resize(2, 2)?);
    // Default scale and ratio: windows inside the image, reproducible by seed.
    let rrc = RandomResizedCrop::new(8);
    for seed in 0..200 {
        let (top, left, h, w) = rrc.params(30, 20, &mut SampleRng::new(seed));
        assert!(h > 0 && w > 0 && top + h <= 30 && left + w <= 20);
        assert_eq!(
            (top, left, h, w),
            rrc.params(30, 20, &mut SampleRng::new(seed))
        );
        let area = (h * w) as f64 / 600.0;
        let ratio = w as f64 / h as f64;
        // Within the requested ranges up to the rounding to whole pixels.
        assert!((0.05..=1.0).contains(&area), "area {area}");
        assert!((0.6..=1.6).contains(&ratio), "ratio {ratio}");
    }
    let out = rrc.apply(
        Image::from_chw_u8(vec![3; 3 * 30 * 20], 3, 30, 20)?,
        &mut rng(),
    )?;
    assert_eq!(out, Image::from_chw_u8(vec![3; 3 * 64], 3, 8, 8)?);
    Ok(())
}

#[test]
fn compose_and_datasets_are_deterministic_per_stream() -> Result<()> {
    let t = Compose::new()
        .then(RandomCrop::new(3).padding(1))
        .then(RandomHorizontalFlip::default())
        .then(ToTensor)
        .then(Normalize::new(&[0.5], &[0.5])?);
    assert_eq!(t.len(), 4);
    let im = Image::from_chw_u8((0..9).map(|v| v * 20).collect(), 1, 3, 3)?;
    let a = t.apply(im.clone(), &mut SampleRng::new(9))?;
    let b = t.apply(im.clone(), &mut SampleRng::new(9))?;
    assert_eq!(a, b);
    assert!(matches!(a.pixels(), Pixels::F32(_)));
    // A closure is a transform.
    let invert = |im: Image, _: &mut SampleRng| -> Result<Image> {
        let [c, h, w] = im.shape();
        Image::from_chw_f32(im.to_f32_vec().iter().map(|v| 1.0 - v).collect(), c, h, w)
    };
    let ds = vec![(im, 3i64)].with_transform(Compose::new().then(ToTensor).then(invert));
    let (x, y) = ds.get(0)?;
    assert_eq!(y, 3);
    assert_eq!(x.get(0, 0, 0), Some(1.0));
    Ok(())
}
