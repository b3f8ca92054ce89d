// f64 elementary functions, prepended to the shaders that compute them in f64 (the host adds
// this file after common.wgsl when a spec asks for it). SPIR-V's GLSL instruction set has
// exp, log, sin, cos, tanh, atan and pow for 16- and 32-bit floats only, so these are written
// with f64 arithmetic, `round`, `floor`, `ldexp` and bit access through u64 (an adapter with
// SHADER_F64 and SHADER_INT64). Accuracy: a few ulps (Taylor and atanh series on reduced
// arguments, Cody–Waite reductions by ln 2 and π/2 with constants exact in their products);
// sin and cos reduce exactly for |x| below about 1e5 only.

const F64_LN2_HI: f64 = 6.93147180369123816490e-01;
const F64_LN2_LO: f64 = 1.90821492927058770002e-10;
const F64_PIO2_1: f64 = 1.57079632673412561417e+00;
const F64_PIO2_2: f64 = 6.07710050630396597660e-11;
const F64_PIO2_2T: f64 = 2.02226624879595063154e-21;
const F64_PI: f64 = 3.14159265358979311600e+00;
const F64_PIO2: f64 = 1.57079632679489655800e+00;
const F64_PIO4: f64 = 7.85398163397448278999e-01;

fn f64_is_nan(x: f64) -> bool {
    return (bitcast<u64>(x) & 0x7ffffffffffffffflu) > 0x7ff0000000000000lu;
}

fn f64_inf() -> f64 {
    return bitcast<f64>(0x7ff0000000000000lu);
}

fn f64_nan() -> f64 {
    return bitcast<f64>(0x7ff8000000000000lu);
}

fn f64_is_negative(x: f64) -> bool {
    return (bitcast<u64>(x) >> 63u) == 1lu;
}

fn exp_f64(x: f64) -> f64 {
    if f64_is_nan(x) {
        return x;
    }
    if x > 709.782712893384 {
        return f64_inf();
    }
    if x < -745.2 {
        return 0.0;
    }
    let k = round(x * 1.4426950408889634);
    let r = (x - k * F64_LN2_HI) - k * F64_LN2_LO;
    var p: f64 = 1.0;
    for (var i = 14; i >= 1; i--) {
        p = 1.0 + r * p / f64(i);
    }
    return ldexp(p, i32(k));
}

// exp(x) - 1, accurate near 0.
fn expm1_f64(x: f64) -> f64 {
    if abs(x) >= 0.5 {
        return exp_f64(x) - 1.0;
    }
    var p: f64 = 1.0;
    for (var i = 18; i >= 2; i--) {
        p = 1.0 + x * p / f64(i);
    }
    return x * p;
}

fn log_f64(x: f64) -> f64 {
    if f64_is_nan(x) || x == f64_inf() {
        return x;
    }
    if x < 0.0 {
        return f64_nan();
    }
    if x == 0.0 {
        return -f64_inf();
    }
    var b = bitcast<u64>(x);
    var e = i32((b >> 52u) & 0x7fflu) - 1023;
    if e == -1023 {
        // Subnormal: scale into the normal range first.
        b = bitcast<u64>(x * 18014398509481984.0);
        e = i32((b >> 52u) & 0x7fflu) - 1023 - 54;
    }
    var m = bitcast<f64>((b & 0x000ffffffffffffflu) | 0x3ff0000000000000lu);
    if m > 1.4142135623730951 {
        m = m * 0.5;
        e += 1;
    }
    // ln m = 2 atanh(s) = 2 s (1 + z/3 + z^2/5 + ...), s = (m - 1) / (m + 1), z = s^2 < 0.03.
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    var p: f64 = 1.0 / 27.0;
    for (var n = 12; n >= 0; n--) {
        p = p * z + 1.0 / f64(2 * n + 1);
    }
    let ef = f64(e);
    return ef * F64_LN2_HI + (ef * F64_LN2_LO + 2.0 * s * p);
}

fn log1p_f64(y: f64) -> f64 {
    let u = 1.0 + y;
    if u == 1.0 {
        return y;
    }
    return log_f64(u) * (y / (u - 1.0));
}

// sin (which = 0) or cos (which = 1) of x.
fn sincos_f64(x: f64, which: i32) -> f64 {
    if f64_is_nan(x) || abs(x) == f64_inf() {
        return f64_nan();
    }
    let n = round(x * 0.63661977236758134308);
    let r = ((x - n * F64_PIO2_1) - n * F64_PIO2_2) - n * F64_PIO2_2T;
    let z = r * r;
    var s: f64 = 1.0;
    var c: f64 = 1.0;
    for (var k = 11; k >= 1; k--) {
        s = 1.0 - z * s / f64((2 * k) * (2 * k + 1));
        c = 1.0 - z * c / f64((2 * k - 1) * (2 * k));
    }
    s = r * s;
    let q = (i32(n - 4.0 * floor(n * 0.25)) + which) & 3;
    switch q {
        case 0: {
            return s;
        }
        case 1: {
            return c;
        }
        case 2: {
            return -s;
        }
        default: {
            return -c;
        }
    }
}

fn sin_f64(x: f64) -> f64 {
    return sincos_f64(x, 0);
}

fn cos_f64(x: f64) -> f64 {
    return sincos_f64(x, 1);
}

fn tanh_f64(x: f64) -> f64 {
    if f64_is_nan(x) {
        return x;
    }
    let a = abs(x);
    var t: f64 = 1.0;
    if a < 22.0 {
        let e = expm1_f64(2.0 * a);
        t = e / (e + 2.0);
    }
    return select(t, -t, x < 0.0);
}

fn erfc_f64(x: f64) -> f64 {
    if f64_is_nan(x) {
        return x;
    }
    let z = abs(x);
    var r: f64;
    if z < 3.0 {
        // erf(z) = 2/sqrt(pi) sum (-1)^n z^(2n+1) / (n! (2n+1)).
        var term = z;
        var sum: f64 = 0.0;
        for (var n = 0; n < 80; n++) {
            let add = term / f64(2 * n + 1);
            sum += add;
            if abs(add) < 1e-17 * abs(sum) {
                break;
            }
            term *= -z * z / f64(n + 1);
        }
        let erf = sum * 1.12837916709551257390;
        return select(1.0 - erf, 1.0 + erf, x < 0.0);
    }
    // Continued fraction: erfc(z) = exp(-z^2) / sqrt(pi) / (z + 1/2 / (z + 1 / (z + 3/2 / ...))).
    var f = z;
    for (var k = 60; k >= 1; k--) {
        f = z + (f64(k) * 0.5) / f;
    }
    r = exp_f64(-z * z) * 0.56418958354775628695 / f;
    return select(r, 2.0 - r, x < 0.0);
}

// atan on [0, inf].
fn atan_pos_f64(x: f64) -> f64 {
    var t: f64 = x;
    var base: f64 = 0.0;
    if t > 2.41421356237309504880 {
        base = F64_PIO2;
        t = -1.0 / t;
    } else if t > 0.41421356237309504880 {
        base = F64_PIO4;
        t = (t - 1.0) / (t + 1.0);
    }
    let z = t * t;
    var p: f64 = 1.0 / 49.0;
    for (var n = 23; n >= 0; n--) {
        p = p * (-z) + 1.0 / f64(2 * n + 1);
    }
    return base + t * p;
}

fn atan2_f64(y: f64, x: f64) -> f64 {
    if f64_is_nan(y) || f64_is_nan(x) {
        return y + x;
    }
    let negative_x = f64_is_negative(x);
    var r: f64;
    if y == 0.0 {
        r = select(0.0, F64_PI, negative_x);
    } else if x == 0.0 {
        r = F64_PIO2;
    } else {
        let ax = abs(x);
        let ay = abs(y);
        if ax == f64_inf() && ay == f64_inf() {
            r = select(F64_PIO4, 3.0 * F64_PIO4, negative_x);
        } else {
            let a = atan_pos_f64(ay / ax);
            r = select(a, F64_PI - a, negative_x);
        }
    }
    return select(r, -r, f64_is_negative(y));
}

// x^e with powf's real-valued semantics.
fn pow_f64(x: f64, e: f64) -> f64 {
    if e == 0.0 {
        return 1.0;
    }
    if f64_is_nan(x) || f64_is_nan(e) {
        return x + e;
    }
    if e == 1.0 {
        return x;
    }
    if e == 0.5 {
        return sqrt(x);
    }
    let integer = floor(e) == e;
    if integer && abs(e) <= 64.0 {
        var n = u32(abs(e));
        var b = x;
        var r: f64 = 1.0;
        loop {
            if (n & 1u) == 1u {
                r *= b;
            }
            n = n >> 1u;
            if n == 0u {
                break;
            }
            b *= b;
        }
        return select(r, 1.0 / r, e < 0.0);
    }
    if x < 0.0 && !integer {
        return f64_nan();
    }
    if x == 0.0 {
        return select(0.0, f64_inf(), e < 0.0);
    }
    let r = exp_f64(e * log_f64(abs(x)));
    let odd = integer && floor(e * 0.5) != e * 0.5;
    return select(r, -r, x < 0.0 && odd);
}
