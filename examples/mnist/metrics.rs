//! `metrics.csv` and `curves.png`.
//!
//! The CSV has a row every `--log-interval` steps (the training loss and accuracy averaged
//! over the steps since the previous row, test columns empty) and a row at the end of each
//! epoch (the epoch's averages and the test loss and accuracy). `images_per_s` is the training
//! throughput over the same steps; `seconds` the training time since the start of the run
//! (evaluation excluded; carried over by `--resume`).
//!
//! The plot is drawn with `plotters` into an RGB buffer (its bitmap backend without the `image`
//! crate) and written as PNG with the `png` crate; text uses the DejaVu Sans subset embedded
//! from `examples/mnist/DejaVuSans-ascii.ttf` (ab_glyph: no system font library is needed).

use plotters::prelude::*;
use plotters::style::FontStyle;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Once;
use tiny_torch::nn::checkpoint::atomic_write;

pub const HEADER: &str = "epoch,step,train_loss,train_acc,test_loss,test_acc,images_per_s,seconds";

/// One CSV row. Accuracies are fractions (0..1).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub epoch: usize,
    pub step: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    /// `(test_loss, test_acc)` on end-of-epoch rows.
    pub test: Option<(f64, f64)>,
    pub images_per_s: f64,
    pub seconds: f64,
}

pub fn to_csv(rows: &[Row]) -> String {
    let mut out = format!("{HEADER}\n");
    for r in rows {
        let (tl, ta) = match r.test {
            Some((l, a)) => (format!("{l:.6}"), format!("{a:.6}")),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "{},{},{:.6},{:.6},{tl},{ta},{:.1},{:.3}",
            r.epoch, r.step, r.train_loss, r.train_acc, r.images_per_s, r.seconds
        );
    }
    out
}

/// Reads a file written by [`to_csv`] (to continue it after `--resume`).
pub fn from_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(format!("the first line is not {HEADER:?}"));
    }
    lines
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').collect();
            let bad = || format!("line {}: {line:?}", i + 2);
            if f.len() != 8 {
                return Err(bad());
            }
            let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
            let test = match (f[4], f[5]) {
                ("", "") => None,
                (l, a) => Some((num(l)?, num(a)?)),
            };
            Ok(Row {
                epoch: f[0].parse().map_err(|_| bad())?,
                step: f[1].parse().map_err(|_| bad())?,
                train_loss: num(f[2])?,
                train_acc: num(f[3])?,
                test,
                images_per_s: num(f[6])?,
                seconds: num(f[7])?,
            })
        })
        .collect()
}

pub fn write_csv(rows: &[Row], path: &Path) -> tiny_torch::Result<()> {
    atomic_write(path, to_csv(rows).as_bytes())
}

static FONT: &[u8] = include_bytes!("DejaVuSans-ascii.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Cannot fail: the font is a valid TrueType file, checked by the tests.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Each row's x position in epochs: epoch `e`'s rows are spread over `[e - 1, e]` by step.
fn epoch_positions(rows: &[Row]) -> Vec<f64> {
    rows.iter()
        .map(|r| {
            let end = rows
                .iter()
                .filter(|q| q.epoch == r.epoch && q.test.is_some())
                .map(|q| q.step)
                .next_back()
                .unwrap_or(r.step);
            let start = rows
                .iter()
                .filter(|q| q.epoch + 1 == r.epoch && q.test.is_some())
                .map(|q| q.step)
                .next_back()
                .unwrap_or(0);
            let frac = if end > start {
                (r.step - start.min(r.step)) as f64 / (end - start) as f64
            } else {
                1.0
            };
            (r.epoch - 1) as f64 + frac
        })
        .collect()
}

/// Draws the loss and accuracy curves (training: every CSV interval; test: every epoch) and
/// writes them to `path` as PNG.
pub fn plot(rows: &[Row], title: &str, path: &Path) -> Result<(), String> {
    register_font();
    let (w, h) = (1100u32, 460u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    draw(rows, title, &mut buf, (w, h)).map_err(|e| format!("cannot draw the curves: {e}"))?;
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(&buf).map_err(|e| e.to_string())?;
    }
    atomic_write(path, &png_bytes).map_err(|e| e.to_string())
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(rows: &[Row], title: &str, buf: &mut [u8], size: (u32, u32)) -> DrawResult {
    let root = BitMapBackend::with_buffer(buf, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (left, right) = root.split_horizontally(size.0 / 2);
    let xs = epoch_positions(rows);
    let epochs = rows.iter().map(|r| r.epoch).max().unwrap_or(1).max(1) as f64;
    let train = |f: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .zip(&xs)
            .filter(|(r, _)| r.test.is_none())
            .map(|(r, &x)| (x, f(r)))
            .collect()
    };
    let test = |f: &dyn Fn((f64, f64)) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .zip(&xs)
            .filter_map(|(r, &x)| Some((x, f(r.test?))))
            .collect()
    };
    let train_loss = train(&|r| r.train_loss);
    let test_loss = test(&|(l, _)| l);
    let train_acc = train(&|r| 100.0 * r.train_acc);
    let test_acc = test(&|(_, a)| 100.0 * a);

    // Loss on a log scale (it falls by orders of magnitude): the axis is log10(loss), labelled
    // with the loss itself (two significant digits).
    let log = |v: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        v.into_iter()
            .map(|(x, l)| (x, l.max(1e-6).log10()))
            .collect()
    };
    let (train_loss, test_loss) = (log(train_loss), log(test_loss));
    let logs = || train_loss.iter().chain(&test_loss).map(|p| p.1);
    let top = logs().fold(-3.0f64, f64::max) + 0.1;
    let bottom = logs().fold(top - 0.5, f64::min) - 0.1;
    // Accuracy: from just below the lowest test accuracy or the 10th percentile of the
    // training intervals (the first few, before the model has learnt anything, would squash
    // the part that matters; they are left out), to 100 %.
    let mut sorted: Vec<f64> = train_acc.iter().map(|p| p.1).collect();
    sorted.sort_by(f64::total_cmp);
    let p10 = sorted.get(sorted.len() / 10).copied().unwrap_or(0.0);
    let low = test_acc
        .iter()
        .map(|p| p.1)
        .fold(p10, f64::min)
        .clamp(0.0, 99.0);
    let low = (low - 1.0).floor().max(0.0);
    let train_acc: Vec<(f64, f64)> = train_acc.into_iter().filter(|p| p.1 >= low).collect();
    let fmt_loss = |v: &f64| {
        let loss = 10f64.powf(*v);
        let digits = (1.0 - v.floor()).max(0.0) as usize;
        format!("{loss:.digits$}")
    };
    let fmt_acc = |v: &f64| {
        if 100.0 - low > 5.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    panel(
        &left,
        "loss (nll, log scale)",
        bottom..top,
        &fmt_loss,
        epochs,
        &train_loss,
        &test_loss,
        SeriesLabelPosition::UpperRight,
    )?;
    panel(
        &right,
        "accuracy (%)",
        low..100.0,
        &fmt_acc,
        epochs,
        &train_acc,
        &test_acc,
        SeriesLabelPosition::LowerRight,
    )?;
    root.present()?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn panel<DB: DrawingBackend, Y>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    y_label: &str,
    y: Y,
    y_format: &dyn Fn(&f64) -> String,
    epochs: f64,
    train: &[(f64, f64)],
    test: &[(f64, f64)],
    legend: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
    Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..epochs, y)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .y_label_formatter(y_format)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let blue = RGBColor(31, 119, 180);
    let red = RGBColor(214, 39, 40);
    chart
        .draw_series(LineSeries::new(train.iter().copied(), blue.stroke_width(2)))?
        .label("train (running)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(test.iter().copied(), red.stroke_width(2)))?
        .label("test")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
    chart.draw_series(test.iter().map(|&p| Circle::new(p, 4, red.filled())))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .position(legend)
        .draw()?;
    Ok(())
}
