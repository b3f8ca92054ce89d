//! [`Value`]: the non-tensor part of optimizer and scheduler state dicts (hyper-parameters, step
//! counters, milestones), in JSON's data model so that a checkpoint can store it as a JSON string
//! (for example in a safetensors header's metadata) and read it back unchanged.

use std::collections::BTreeMap;
use tiny_torch_core::{Error, Result};

/// A JSON value. Maps are ordered by key, so the same state always serialises the same way.
///
/// It maps one to one onto `serde_json::Value` (`Int` and `Float` are JSON numbers; an `f64`
/// printed with Rust's or Python's shortest round-trip formatting reads back bit for bit).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// A number as `f64` (JSON does not distinguish `1` from `1.0`; PyTorch's defaults such as
    /// `weight_decay=0` are Python ints).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(x) => Some(x),
            Value::Int(i) => Some(i as f64),
            _ => None,
        }
    }

    /// An integer; a float with an integral value (`3.0`) is accepted, as JSON readers may
    /// produce one.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            // Below 2^53 every integer is exact in f64.
            Value::Float(x) if x.fract() == 0.0 && x.abs() < (1u64 << 53) as f64 => Some(x as i64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The JSON type name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<&[f64]> for Value {
    fn from(v: &[f64]) -> Self {
        Value::List(v.iter().map(|&x| Value::Float(x)).collect())
    }
}

impl From<&[i64]> for Value {
    fn from(v: &[i64]) -> Self {
        Value::List(v.iter().map(|&x| Value::Int(x)).collect())
    }
}

/// Typed, checked reads from a map of [`Value`]s. Every error names `op` and the key's path
/// (`context`), so that a bad checkpoint points at the faulty entry.
pub(crate) struct Fields<'a> {
    op: &'static str,
    context: String,
    map: &'a BTreeMap<String, Value>,
}

impl<'a> Fields<'a> {
    /// The fields of `map`.
    pub(crate) fn of_map(
        op: &'static str,
        context: impl Into<String>,
        map: &'a BTreeMap<String, Value>,
    ) -> Self {
        Fields {
            op,
            context: context.into(),
            map,
        }
    }

    /// `value` must be a map.
    pub(crate) fn new(
        op: &'static str,
        context: impl Into<String>,
        value: &'a Value,
    ) -> Result<Self> {
        let context = context.into();
        match value.as_map() {
            Some(map) => Ok(Fields { op, context, map }),
            None => Err(Error::invalid(
                op,
                format!("{context} must be a map, but is {}", value.kind()),
            )),
        }
    }

    fn error(&self, key: &str, want: &str, got: &Value) -> Error {
        Error::invalid(
            self.op,
            format!(
                "{}[\"{key}\"] must be {want}, but is {}",
                self.context,
                got.kind()
            ),
        )
    }

    /// The raw entry, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The entry, which must be present.
    pub(crate) fn required(&self, key: &str) -> Result<&'a Value> {
        self.map
            .get(key)
            .ok_or_else(|| Error::invalid(self.op, format!("{} has no \"{key}\"", self.context)))
    }

    pub(crate) fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key)
            .map(|v| v.as_f64().ok_or_else(|| self.error(key, "a number", v)))
            .transpose()
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|v| v.as_bool().ok_or_else(|| self.error(key, "a bool", v)))
            .transpose()
    }

    pub(crate) fn f64(&self, key: &str) -> Result<f64> {
        let v = self.required(key)?;
        v.as_f64().ok_or_else(|| self.error(key, "a number", v))
    }

    pub(crate) fn i64(&self, key: &str) -> Result<i64> {
        let v = self.required(key)?;
        v.as_i64().ok_or_else(|| self.error(key, "an integer", v))
    }

    /// A non-negative integer that fits `usize`.
    pub(crate) fn usize(&self, key: &str) -> Result<usize> {
        let v = self.required(key)?;
        v.as_i64()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| self.error(key, "a non-negative integer", v))
    }

    pub(crate) fn bool(&self, key: &str) -> Result<bool> {
        let v = self.required(key)?;
        v.as_bool().ok_or_else(|| self.error(key, "a bool", v))
    }

    pub(crate) fn str(&self, key: &str) -> Result<&'a str> {
        let v = self.required(key)?;
        v.as_str().ok_or_else(|| self.error(key, "a string", v))
    }

    pub(crate) fn list(&self, key: &str) -> Result<&'a [Value]> {
        let v = self.required(key)?;
        v.as_list().ok_or_else(|| self.error(key, "a list", v))
    }

    pub(crate) fn f64_list(&self, key: &str) -> Result<Vec<f64>> {
        let v = self.required(key)?;
        let bad = || self.error(key, "a list of numbers", v);
        let list = v.as_list().ok_or_else(bad)?;
        list.iter().map(|x| x.as_f64().ok_or_else(bad)).collect()
    }

    pub(crate) fn i64_list(&self, key: &str) -> Result<Vec<i64>> {
        let v = self.required(key)?;
        let bad = || self.error(key, "a list of integers", v);
        let list = v.as_list().ok_or_else(bad)?;
        list.iter().map(|x| x.as_i64().ok_or_else(bad)).collect()
    }
}
