//! PyTorch-like printing: `format!("{x}")` gives what `print(x)` gives in PyTorch with its
//! default print options (precision 4, threshold 1000, edgeitems 3, linewidth 80).
//!
//! This follows `torch/_tensor_str.py`: floats print in fixed point with 4 decimals, as
//! integers with a trailing dot when every value is integral (`1.`), or in scientific notation
//! when magnitudes span more than 1000x, exceed 1e8 or go below 1e-4; all elements are padded to
//! one width; rows wrap at 80 columns; tensors over 1000 elements show only the first and last
//! 3 entries of each dim, with `...`; a `dtype=` suffix appears for dtypes other than float32,
//! int64 and bool, a `device=` suffix off the CPU. Only the summarized part is read back from
//! the device. Printing never fails: a backend error prints as `tensor(<unreadable: ...>)`.

use crate::Tensor;
use std::fmt;
use tiny_torch_core::{Backend, DType, Device, Result};

const PRECISION: usize = 4;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;
const LINE_WIDTH: usize = 80;

/// Host copies of the (summarized) elements.
enum HostValues {
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
}

/// How floats are written (PyTorch's `_Formatter` modes).
#[derive(Clone, Copy)]
enum FloatMode {
    /// Every finite value is integral: `1.`, `-3.`.
    Integral,
    /// Fixed point with `PRECISION` decimals.
    Fixed,
    /// Scientific, Python's `{:.4e}` (`1.0000e+08`).
    Scientific,
}

fn non_finite(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("nan".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        None
    }
}

/// Python's `"{:.{p}e}".format(v)`: at least two exponent digits, with a sign.
fn scientific(v: f64) -> String {
    if let Some(s) = non_finite(v) {
        return s;
    }
    let s = format!("{v:.PRECISION$e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let exp: i32 = exp.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
        }
        None => s,
    }
}

fn format_float(v: f64, mode: FloatMode) -> String {
    match mode {
        FloatMode::Scientific => scientific(v),
        _ if !v.is_finite() => non_finite(v).unwrap_or_default(),
        FloatMode::Integral => format!("{v:.0}."),
        FloatMode::Fixed => format!("{v:.PRECISION$}"),
    }
}

/// PyTorch's `_Formatter.__init__` for floats: the mode and the width every element is padded
/// to, from the nonzero finite values.
fn float_mode(values: &[f64]) -> (FloatMode, usize) {
    let nonzero: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v != 0.0)
        .collect();
    if nonzero.is_empty() {
        return (FloatMode::Integral, 1);
    }
    let min = nonzero
        .iter()
        .map(|v| v.abs())
        .fold(f64::INFINITY, f64::min);
    let max = nonzero.iter().map(|v| v.abs()).fold(0.0, f64::max);
    let integral = nonzero.iter().all(|v| *v == v.ceil());
    let wide = max / min > 1000.0 || max > 1.0e8;
    let mode = match (integral, wide || (!integral && min < 1.0e-4)) {
        (_, true) => FloatMode::Scientific,
        (true, false) => FloatMode::Integral,
        (false, false) => FloatMode::Fixed,
    };
    let width = nonzero
        .iter()
        .map(|&v| match mode {
            // The trailing dot of integral mode is not part of `{:.0f}`.
            FloatMode::Integral => format!("{v:.0}").len() + 1,
            _ => format_float(v, mode).len(),
        })
        .max()
        .unwrap_or(1);
    (mode, width.max(1))
}

/// Every element as text, unpadded, and the width to pad them to.
fn format_elements(values: &HostValues) -> (Vec<String>, usize) {
    let strings: Vec<String> = match values {
        HostValues::Float(v) => {
            let (mode, width) = float_mode(v);
            return (v.iter().map(|&x| format_float(x, mode)).collect(), width);
        }
        HostValues::Int(v) => v.iter().map(|x| x.to_string()).collect(),
        HostValues::Bool(v) => v
            .iter()
            .map(|&b| if b { "True" } else { "False" }.to_string())
            .collect(),
    };
    let width = strings.iter().map(String::len).max().unwrap_or(1).max(1);
    (strings, width)
}

/// Nested brackets over the summarized elements (`_tensor_str_with_formatter`). `cut[d]` says
/// whether dim `d` shows only its edges (then `...` goes after the first `EDGE_ITEMS`).
struct Printer<'a> {
    elements: &'a [String],
    width: usize,
    cut: &'a [bool],
}

impl Printer<'_> {
    fn pad(&self, s: &str) -> String {
        format!("{s:>width$}", width = self.width)
    }

    /// Text of the block of `dims` starting at element `start`, at nesting depth `depth`.
    fn block(&self, dims: &[usize], start: usize, depth: usize, indent: usize) -> String {
        let Some((&n, inner)) = dims.split_first() else {
            return self.pad(self.elements.get(start).map_or("", String::as_str));
        };
        let cut = self.cut.get(depth).copied().unwrap_or(false);
        if inner.is_empty() {
            let mut items: Vec<String> = (0..n)
                .map(|i| self.pad(self.elements.get(start + i).map_or("", String::as_str)))
                .collect();
            if cut {
                items.insert(EDGE_ITEMS, " ...".into());
            }
            let per_line = (LINE_WIDTH.saturating_sub(indent) / (self.width + 2)).max(1);
            let lines: Vec<String> = items.chunks(per_line).map(|l| l.join(", ")).collect();
            return format!(
                "[{}]",
                lines.join(&format!(",\n{}", " ".repeat(indent + 1)))
            );
        }
        let step: usize = inner.iter().product();
        let mut slices: Vec<String> = (0..n)
            .map(|i| self.block(inner, start + i * step, depth + 1, indent + 1))
            .collect();
        if cut {
            slices.insert(EDGE_ITEMS, "...".into());
        }
        let separator = format!(",{}{}", "\n".repeat(dims.len() - 1), " ".repeat(indent + 1));
        format!("[{}]", slices.join(&separator))
    }
}

/// `_add_suffixes`: `, dtype=...` on the last line, or on a new line when it would pass 80
/// columns.
fn add_suffixes(text: &str, suffixes: &[String], indent: usize) -> String {
    let mut out = text.to_string();
    let mut last_line = match text.rfind('\n') {
        Some(pos) => text.len() - pos + 1,
        None => text.len() + 2,
    };
    for suffix in suffixes {
        if last_line + suffix.len() + 2 > LINE_WIDTH {
            out.push_str(&format!(",\n{}{suffix}", " ".repeat(indent)));
            last_line = indent + suffix.len();
        } else {
            out.push_str(&format!(", {suffix}"));
            last_line += suffix.len() + 2;
        }
    }
    out.push(')');
    out
}

/// Python's `str(tuple(shape))`.
fn python_tuple(dims: &[usize]) -> String {
    let items: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    match items.len() {
        1 => format!("({},)", items[0]),
        _ => format!("({})", items.join(", ")),
    }
}

/// What is known about the printed tensor besides its summarized elements.
struct Header<'a> {
    dims: &'a [usize],
    dtype: DType,
    device: Device,
}

/// The whole `tensor(...)` text (`_str_intern`), given the summarized elements and their dims.
fn render(header: &Header<'_>, shown_dims: &[usize], values: &HostValues) -> String {
    let prefix = "tensor(";
    let indent = prefix.len();
    let mut suffixes = Vec::new();
    if header.device != Device::Cpu {
        suffixes.push(format!("device='{}'", header.device));
    }
    let numel: usize = header.dims.iter().product();
    let body = if numel == 0 {
        if header.dims.len() != 1 {
            suffixes.push(format!("size={}", python_tuple(header.dims)));
        }
        if header.dtype != DType::F32 {
            suffixes.push(format!("dtype=torch.{}", header.dtype.torch_name()));
        }
        "[]".to_string()
    } else {
        if !matches!(header.dtype, DType::F32 | DType::I64 | DType::Bool) {
            suffixes.push(format!("dtype=torch.{}", header.dtype.torch_name()));
        }
        let summarize = numel > THRESHOLD;
        let cut: Vec<bool> = header
            .dims
            .iter()
            .map(|&n| summarize && n > 2 * EDGE_ITEMS)
            .collect();
        let (elements, width) = format_elements(values);
        let printer = Printer {
            elements: &elements,
            width,
            cut: &cut,
        };
        printer.block(shown_dims, 0, 0, indent)
    };
    add_suffixes(&format!("{prefix}{body}"), &suffixes, indent)
}

impl<B: Backend> Tensor<B> {
    /// The part of this tensor that printing shows: the first and last `EDGE_ITEMS` of every
    /// long dim when the tensor has more than `THRESHOLD` elements, else all of it.
    fn summarized(&self) -> Result<Self> {
        let mut t = self.clone();
        if self.numel() <= THRESHOLD {
            return Ok(t);
        }
        for (d, &n) in self.dims().iter().enumerate() {
            if n > 2 * EDGE_ITEMS {
                let d = d as isize;
                let head = t.narrow(d, 0, EDGE_ITEMS)?;
                let tail = t.narrow(d, n - EDGE_ITEMS, EDGE_ITEMS)?;
                t = Tensor::cat(&[&head, &tail], d)?;
            }
        }
        Ok(t)
    }

    fn host_values(&self) -> Result<HostValues> {
        Ok(match self.dtype() {
            DType::Bool => HostValues::Bool(self.to_vec()?),
            d if d.is_float() => HostValues::Float(self.to_f64_vec()?),
            _ => HostValues::Int(self.to_dtype(DType::I64)?.to_vec()?),
        })
    }

    fn render(&self) -> Result<String> {
        let header = Header {
            dims: self.dims(),
            dtype: self.dtype(),
            device: self.device(),
        };
        if self.numel() == 0 {
            return Ok(render(&header, &[], &HostValues::Int(Vec::new())));
        }
        let shown = self.summarized()?;
        Ok(render(&header, shown.dims(), &shown.host_values()?))
    }
}

impl<B: Backend> fmt::Display for Tensor<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.render() {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "tensor(<unreadable: {e}>)"),
        }
    }
}

/// The same text as `Display`, as PyTorch's `repr` and `str` agree.
impl<B: Backend> fmt::Debug for Tensor<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
