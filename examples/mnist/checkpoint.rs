//! The training checkpoint: one safetensors file, `checkpoint.safetensors`, written atomically
//! (`nn::checkpoint::save_safetensors`: a temporary file, `fsync`, rename) at the end of each
//! epoch, so that a crash leaves the previous epoch's checkpoint whole.
//!
//! - tensors `model.<name>`: the model's state dict (PyTorch's names: `model.conv1.weight`, ...);
//! - tensors `optimizer.state.<index>.<key>`: Adam's state (`OptimizerStateDict::to_tensors`);
//! - metadata (strings): `format`, `epoch` (epochs completed), `step` (optimizer steps so far),
//!   `seconds` (training time so far), `rng` (the default generator's `seed,offset`: dropout
//!   draws from it), `optimizer.param_groups` and `scheduler` (JSON), and the flags a resumed run
//!   must share (`seed`, `batch_size`, `data`, `limit_steps`).
//!
//! The shuffling of epoch `e` is a pure function of `(seed, e)` (the DataLoader's rule), so
//! nothing else is needed to continue exactly where the run stopped.
//!
//! JSON is written and read here (not with serde_json) so that every float goes through Rust's
//! shortest round-trip formatting and its correctly rounded parser: the learning rates come
//! back bit for bit, which exact resumption needs.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tiny_torch::nn::checkpoint::{load_safetensors, save_safetensors};
use tiny_torch::optim::{OptimizerStateDict, Value};
use tiny_torch::{Backend, Error, Result, Tensor};

pub const FORMAT: &str = "tiny-torch examples/mnist checkpoint 1";

/// Everything a checkpoint holds.
pub struct TrainState<B: Backend> {
    pub model: Vec<(String, Tensor<B>)>,
    pub optimizer: OptimizerStateDict<B>,
    pub scheduler: Value,
    pub epoch: usize,
    pub step: usize,
    pub seconds: f64,
    pub rng: (u64, u64),
    /// The flags that must match when resuming, as `(name, value)`.
    pub run: Vec<(String, String)>,
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::file(path, msg.into())
}

pub fn save<B: Backend>(state: &TrainState<B>, path: &Path) -> Result<()> {
    let mut tensors: Vec<(String, Tensor<B>)> = state
        .model
        .iter()
        .map(|(k, t)| (format!("model.{k}"), t.clone()))
        .collect();
    tensors.extend(
        state
            .optimizer
            .to_tensors()
            .into_iter()
            .map(|(k, t)| (format!("optimizer.{k}"), t)),
    );
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("epoch".to_string(), state.epoch.to_string());
    meta.insert("step".to_string(), state.step.to_string());
    meta.insert("seconds".to_string(), format!("{:?}", state.seconds));
    meta.insert(
        "rng".to_string(),
        format!("{},{}", state.rng.0, state.rng.1),
    );
    meta.insert(
        "optimizer.param_groups".to_string(),
        to_json(&state.optimizer.param_groups_value()),
    );
    meta.insert("scheduler".to_string(), to_json(&state.scheduler));
    for (k, v) in &state.run {
        meta.insert(format!("run.{k}"), v.clone());
    }
    save_safetensors(&tensors, Some(meta), path)
}

pub fn load<B: Backend>(path: &Path, backend: &B) -> Result<TrainState<B>> {
    let (tensors, meta) = load_safetensors(path, backend)?;
    let get = |key: &str| {
        meta.get(key)
            .ok_or_else(|| bad(path, format!("metadata has no \"{key}\"")))
    };
    if get("format")? != FORMAT {
        return Err(bad(
            path,
            format!(
                "not a checkpoint of this example (format {:?})",
                get("format")?
            ),
        ));
    }
    let int = |key: &str| -> Result<u64> {
        get(key)?
            .parse()
            .map_err(|_| bad(path, format!("metadata \"{key}\" is not an integer")))
    };
    let rng = get("rng")?
        .split_once(',')
        .and_then(|(s, o)| Some((s.parse().ok()?, o.parse().ok()?)))
        .ok_or_else(|| bad(path, "metadata \"rng\" is not \"seed,offset\""))?;
    let seconds = get("seconds")?
        .parse()
        .map_err(|_| bad(path, "metadata \"seconds\" is not a number"))?;
    let json =
        |key: &str| from_json(get(key)?).map_err(|e| bad(path, format!("metadata \"{key}\": {e}")));
    let (mut model, mut optim) = (Vec::new(), Vec::new());
    for (name, t) in tensors {
        if let Some(k) = name.strip_prefix("model.") {
            model.push((k.to_string(), t));
        } else if let Some(k) = name.strip_prefix("optimizer.") {
            optim.push((k.to_string(), t));
        } else {
            return Err(bad(path, format!("unexpected tensor {name}")));
        }
    }
    let optimizer = OptimizerStateDict::from_parts(optim, &json("optimizer.param_groups")?)
        .map_err(|e| bad(path, e.to_string()))?;
    let mut run: Vec<(String, String)> = meta
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("run.")?.to_string(), v.clone())))
        .collect();
    run.sort();
    Ok(TrainState {
        model,
        optimizer,
        scheduler: json("scheduler")?,
        epoch: int("epoch")? as usize,
        step: int("step")? as usize,
        seconds,
        rng,
        run,
    })
}

// ------------------------------------------------------------------------------- JSON

/// `value` as compact JSON. Floats use Rust's shortest round-trip form and always show a `.`
/// or an exponent, so that they read back as floats (and integers as integers).
pub fn to_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        // JSON has no NaN or infinity; Python's json module writes these words, so do we.
        Value::Float(x) if x.is_nan() => out.push_str("NaN"),
        Value::Float(x) if x.is_infinite() => {
            out.push_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(x) => out.push_str(&format!("{x:?}")),
        Value::Str(s) => write_str(s, out),
        Value::List(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(v, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses what [`to_json`] writes (and any JSON without `\u` surrogate pairs).
pub fn from_json(text: &str) -> std::result::Result<Value, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected text at byte {}", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> std::result::Result<Value, String> {
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return Err("unexpected end of JSON".into());
        };
        match c {
            b'n' if self.eat("null") => Ok(Value::Null),
            b't' if self.eat("true") => Ok(Value::Bool(true)),
            b'f' if self.eat("false") => Ok(Value::Bool(false)),
            b'N' if self.eat("NaN") => Ok(Value::Float(f64::NAN)),
            b'I' if self.eat("Infinity") => Ok(Value::Float(f64::INFINITY)),
            b'-' if self.eat("-Infinity") => Ok(Value::Float(f64::NEG_INFINITY)),
            b'"' => self.string().map(Value::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Value::List(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    if self.eat("]") {
                        return Ok(Value::List(items));
                    }
                    self.expect(b',')?;
                }
            }
            b'{' => {
                self.i += 1;
                let mut map = BTreeMap::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Value::Map(map));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.expect(b':')?;
                    map.insert(key, self.value()?);
                    self.ws();
                    if self.eat("}") {
                        return Ok(Value::Map(map));
                    }
                    self.expect(b',')?;
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let text =
                    std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                if text.contains(['.', 'e', 'E']) {
                    text.parse()
                        .map(Value::Float)
                        .map_err(|_| format!("bad number {text}"))
                } else {
                    text.parse()
                        .map(Value::Int)
                        .map_err(|_| format!("bad integer {text}"))
                }
            }
            _ => Err(format!("unexpected '{}' at byte {}", c as char, self.i)),
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("expected a string at byte {}", self.i));
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err("unterminated string".into());
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = self
                                .s
                                .get(self.i..self.i + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32)
                                .ok_or("bad \\u escape")?;
                            self.i += 4;
                            let mut buf = [0; 4];
                            out.extend_from_slice(hex.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(format!("bad escape \\{}", e as char)),
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}
