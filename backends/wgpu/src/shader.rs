//! The WGSL sources (`backends/wgpu/shaders/*.wgsl`, embedded at build time) and their
//! instantiation per dtype.
//!
//! WGSL has no templates, so the host writes a small header before each file: `alias`es for
//! the storage and compute types of each operand (`alias S = f32; alias SC = f32;`), the
//! conversion functions between them with the cast rules of the CPU backend, and the op itself
//! as a function (`fn op(x: C) -> C { return exp(x); }`). Then comes `common.wgsl`, then the
//! file, in which `//#if FLAG` (or `!FLAG`) / `//#else` / `//#endif` lines keep or drop blocks (in-place
//! variants, for example). A [`ShaderSpec`] is that header plus the flags: the key of the
//! pipeline cache.
//!
//! How each dtype is stored ([`storage_type`]): `f32`, `i32` as themselves; `u8` and `bool` as
//! one `u32` per element (0 or 1 for bool), so that invocations never share a word; `i64` and
//! `f64` natively where the adapter has `SHADER_INT64` / `SHADER_F64`; `f16` natively (computed
//! in `f32`) where it has `SHADER_F16`; `bf16` as the `f32` whose low 16 bits are zero (computed
//! in `f32`, rounded to nearest even on every store), on every adapter.

use tiny_torch_core::{DType, Error, Result};

/// Every shader file by stem; `common` is prepended to the others.
pub const SHADERS: &[(&str, &str)] = &[
    ("common", include_str!("../shaders/common.wgsl")),
    ("math", include_str!("../shaders/math.wgsl")),
    ("copy", include_str!("../shaders/copy.wgsl")),
    ("unary", include_str!("../shaders/unary.wgsl")),
    ("binary", include_str!("../shaders/binary.wgsl")),
    ("reduce", include_str!("../shaders/reduce.wgsl")),
    ("softmax", include_str!("../shaders/softmax.wgsl")),
    ("matmul", include_str!("../shaders/matmul.wgsl")),
    ("indexing", include_str!("../shaders/indexing.wgsl")),
    ("random", include_str!("../shaders/random.wgsl")),
    ("conv", include_str!("../shaders/conv.wgsl")),
    ("pool", include_str!("../shaders/pool.wgsl")),
    ("batch_norm", include_str!("../shaders/batch_norm.wgsl")),
];

fn source_of(stem: &str) -> Result<&'static str> {
    SHADERS
        .iter()
        .find(|(s, _)| *s == stem)
        .map(|(_, src)| *src)
        .ok_or_else(|| crate::device::backend_error(format!("no shader named {stem}.wgsl")))
}

/// The WGSL type a dtype is stored as in a buffer.
pub fn storage_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::I32 => "i32",
        DType::U8 | DType::Bool => "u32",
        DType::I64 => "i64",
        DType::F64 => "f64",
        DType::F16 => "f16",
        // The f32 whose upper half is the bf16 (low 16 bits zero): loads are free.
        DType::BF16 => "f32",
    }
}

/// The WGSL type a dtype is computed in (`f16` in `f32`, as PyTorch's opmath does).
pub fn compute_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "f32",
        d => storage_type(d),
    }
}

/// Bytes per element in a buffer.
pub fn device_size(dtype: DType) -> usize {
    match dtype {
        DType::U8 | DType::Bool | DType::BF16 => 4,
        DType::F16 => 2,
        d => d.size_in_bytes(),
    }
}

/// A WGSL function `fn {name}(x: compute(from)) -> storage(to)` with the cast rules of
/// `Backend::copy`: floats to integers truncate toward zero (through i32/i64, then wrap), to
/// bool is `!= 0`, u8 wraps.
pub fn convert_fn(name: &str, from: DType, to: DType) -> String {
    let x = compute_type(from);
    if to == DType::BF16 {
        // Round to nearest even on the upper 16 bits; NaN stays a (quiet) NaN.
        return format!(
            "fn {name}(x: {x}) -> f32 {{\n    let v = f32(x);\n    let b = bitcast<u32>(v);\n    \
             if (b & 0x7fffffffu) > 0x7f800000u {{\n        return bitcast<f32>((b | 0x400000u) & 0xffff0000u);\n    }}\n    \
             return bitcast<f32>((b + 0x7fffu + ((b >> 16u) & 1u)) & 0xffff0000u);\n}}\n"
        );
    }
    if from.is_float() && matches!(to, DType::I32 | DType::U8) {
        return float_to_low_bits_fn(name, x, to);
    }
    let body = match to {
        DType::Bool => format!("select(0u, 1u, x != {x}(0))"),
        DType::U8 => "u32(x) & 255u".to_string(),
        DType::I32 if from == DType::U8 || from == DType::Bool => "i32(x)".to_string(),
        _ => format!("{}(x)", storage_type(to)),
    };
    format!(
        "fn {name}(x: {x}) -> {} {{\n    return {body};\n}}\n",
        storage_type(to)
    )
}

/// Float to i32 or u8 as the CPU casts (Rust's `x as i64 as i32` / `as u8`): truncate,
/// saturate at i64's range (NaN: 0), keep the low 32 (8) bits. WGSL's `i32(x)` clamps to
/// i32's range instead, and needs no i64 here: past 2^31 a float is an integer, whose value
/// modulo 2^32 the float arithmetic below computes exactly. NaN takes the first branch (every
/// comparison after it is false for NaN, and `u32(NaN)` is undefined).
fn float_to_low_bits_fn(name: &str, x: &str, to: DType) -> String {
    let ret = if to == DType::U8 {
        "low & 255u"
    } else {
        "bitcast<i32>(low)"
    };
    format!(
        "fn {name}(x: {x}) -> {st} {{\n    \
         let t = trunc(x);\n    \
         var low = 0u;\n    \
         if x != x {{\n        low = 0u;\n    \
         }} else if abs(t) < {x}(2147483648.0) {{\n        low = bitcast<u32>(i32(t));\n    \
         }} else if t >= {x}(9223372036854775808.0) {{\n        low = 0xffffffffu;\n    \
         }} else if t < {x}(-9223372036854775808.0) {{\n        low = 0u;\n    \
         }} else {{\n        \
         low = u32(t - floor(t / {x}(4294967296.0)) * {x}(4294967296.0));\n    \
         }}\n    \
         return {ret};\n}}\n",
        st = storage_type(to)
    )
}

/// One instantiation of a shader file: its header and flags.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShaderSpec {
    pub stem: &'static str,
    header: String,
    flags: Vec<&'static str>,
    f16: bool,
    math: bool,
}

impl ShaderSpec {
    pub fn new(stem: &'static str) -> Self {
        ShaderSpec {
            stem,
            header: String::new(),
            flags: Vec::new(),
            f16: false,
            math: false,
        }
    }

    /// `alias {name} = storage(dtype); alias {name}C = compute(dtype);`
    pub fn dtype(mut self, name: &str, dtype: DType) -> Self {
        self.f16 |= dtype == DType::F16;
        self.header += &format!(
            "alias {name} = {};\nalias {name}C = {};\n",
            storage_type(dtype),
            compute_type(dtype)
        );
        self.header += &nan_fn(name, dtype);
        self
    }

    /// Any WGSL text for the header (a function, a constant).
    pub fn code(mut self, code: &str) -> Self {
        self.header += code;
        self.header.push('\n');
        self
    }

    /// A conversion function (see [`convert_fn`]).
    pub fn convert(self, name: &str, from: DType, to: DType) -> Self {
        let f16 = from == DType::F16 || to == DType::F16;
        let mut s = self.code(&convert_fn(name, from, to));
        s.f16 |= f16;
        s
    }

    /// Prepends `math.wgsl` (the f64 elementary functions) when `on`.
    pub fn math_if(mut self, on: bool) -> Self {
        self.math |= on;
        self
    }

    pub fn flag(mut self, flag: &'static str) -> Self {
        self.flags.push(flag);
        self
    }

    pub fn flag_if(self, on: bool, flag: &'static str) -> Self {
        if on { self.flag(flag) } else { self }
    }

    /// The complete WGSL module.
    pub fn source(&self) -> Result<String> {
        let mut out = String::new();
        if self.f16 {
            out += "enable f16;\n";
        }
        out += &self.header;
        out += source_of("common")?;
        if self.math {
            out += source_of("math")?;
        }
        out += &preprocess(self.stem, source_of(self.stem)?, &self.flags)?;
        Ok(out)
    }
}

/// Keeps the lines of `//#if FLAG` blocks whose flag is set (and their `//#else` otherwise).
fn preprocess(stem: &str, src: &str, flags: &[&str]) -> Result<String> {
    let mut out = String::with_capacity(src.len());
    // One entry per open block: (this branch kept, the enclosing block kept).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let bad = |line: usize, msg: &str| Error::Backend {
        backend: "wgpu",
        msg: format!("{stem}.wgsl line {}: {msg}", line + 1),
    };
    for (n, line) in src.lines().enumerate() {
        let t = line.trim();
        let kept = stack.last().is_none_or(|&(k, _)| k);
        if let Some(flag) = t.strip_prefix("//#if ") {
            let flag = flag.trim();
            let on = match flag.strip_prefix('!') {
                Some(f) => !flags.contains(&f),
                None => flags.contains(&flag),
            };
            stack.push((kept && on, kept));
        } else if t == "//#else" {
            let (k, parent) = stack.pop().ok_or_else(|| bad(n, "#else without #if"))?;
            stack.push((parent && !k, parent));
        } else if t == "//#endif" {
            stack.pop().ok_or_else(|| bad(n, "#endif without #if"))?;
        } else if kept {
            out += line;
            out.push('\n');
        }
    }
    if !stack.is_empty() {
        return Err(bad(src.lines().count(), "unterminated #if"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocess_keeps_the_flagged_branches() {
        let src = "a\n//#if X\nb\n//#if Y\nc\n//#else\nd\n//#endif\n//#else\ne\n//#endif\nf\n";
        assert_eq!(preprocess("t", src, &["X"]).unwrap(), "a\nb\nd\nf\n");
        assert_eq!(preprocess("t", src, &["X", "Y"]).unwrap(), "a\nb\nc\nf\n");
        assert_eq!(preprocess("t", src, &["Y"]).unwrap(), "a\ne\nf\n");
        assert!(preprocess("t", "//#if X\n", &[]).is_err());
    }
}

/// The kind of arithmetic a dtype is computed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `f32` (for `f32` and `f16`): every math function.
    F32,
    /// `f64`: arithmetic, `sqrt` and comparisons natively; transcendental functions from
    /// `math.wgsl` (SPIR-V's GLSL instruction set has none for 64-bit floats).
    F64,
    /// `i32`, `i64`: wrapping arithmetic.
    Signed,
    /// `u8` (computed in `u32`, wrapped on store) and `bool`.
    Unsigned,
}

pub fn kind(dtype: DType) -> Kind {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => Kind::F32,
        DType::F64 => Kind::F64,
        DType::I32 | DType::I64 => Kind::Signed,
        DType::U8 | DType::Bool => Kind::Unsigned,
    }
}

/// A host value as the bytes of `dtype`'s compute type (a uniform field of type `XC`).
pub fn compute_bytes(dtype: DType, float: f64, int: i64) -> Vec<u8> {
    match compute_type(dtype) {
        "f32" => (float as f32).to_le_bytes().to_vec(),
        "f64" => float.to_le_bytes().to_vec(),
        "i32" => (int as i32).to_le_bytes().to_vec(),
        "i64" => int.to_le_bytes().to_vec(),
        _ => (int as u32).to_le_bytes().to_vec(),
    }
}

/// Parameter bytes padded to a multiple of 16 (uniform struct sizes round up to 16).
pub fn padded(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.resize(bytes.len().next_multiple_of(16), 0);
    bytes
}

/// `fn nan_{name}(x: compute(dtype)) -> bool`. Floats test their bits: Vulkan compilers may
/// fold `x != x` to false (nothing obliges them to preserve NaN without the float-controls
/// execution modes, which WGSL cannot ask for; Mesa does fold it for `f64`). The `f64` test
/// uses `u64`, which every adapter offering `SHADER_F64` here also offers (`SHADER_INT64`).
pub fn nan_fn(name: &str, dtype: DType) -> String {
    let t = compute_type(dtype);
    let body = match t {
        "f32" => "(bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u",
        "f64" => "(bitcast<u64>(x) & 0x7ffffffffffffffflu) > 0x7ff0000000000000lu",
        _ => "false",
    };
    format!("fn nan_{name}(x: {t}) -> bool {{\n    return {body};\n}}\n")
}
