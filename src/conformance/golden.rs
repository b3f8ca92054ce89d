//! Loading a golden directory: `ops.json` (the cases) and `ops.safetensors` (their tensors).
//!
//! Everything here is host-side and non-generic. A file that is missing, truncated or does not
//! hold what `ops.json` promises gives [`Error::File`] naming the file and what is wrong.

use crate::{DType, Element, Error, Result, bf16, f16};
use safetensors::{Dtype, SafeTensors};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The cases file of a golden directory.
pub const CASES_FILE: &str = "ops.json";
/// The tensors file of a golden directory.
pub const TENSORS_FILE: &str = "ops.safetensors";

/// A tensor held on the host, as stored in the safetensors file (little-endian elements, `bool`
/// as one byte).
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl HostTensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements converted to `f64` (exact for every dtype except `I64` beyond 2^53).
    pub fn to_f64(&self) -> Vec<f64> {
        fn conv<T: Element>(bytes: &[u8]) -> Vec<f64> {
            T::from_bytes(bytes).into_iter().map(T::to_f64).collect()
        }
        match self.dtype {
            DType::Bool => conv::<bool>(&self.bytes),
            DType::U8 => conv::<u8>(&self.bytes),
            DType::I32 => conv::<i32>(&self.bytes),
            DType::I64 => conv::<i64>(&self.bytes),
            DType::F16 => conv::<f16>(&self.bytes),
            DType::BF16 => conv::<bf16>(&self.bytes),
            DType::F32 => conv::<f32>(&self.bytes),
            DType::F64 => conv::<f64>(&self.bytes),
        }
    }

    /// The elements as `i64` (for exact comparison of integer and bool tensors).
    pub fn to_i64(&self) -> Vec<i64> {
        fn conv<T: Element>(bytes: &[u8], f: impl Fn(T) -> i64) -> Vec<i64> {
            T::from_bytes(bytes).into_iter().map(f).collect()
        }
        match self.dtype {
            DType::Bool => conv::<bool>(&self.bytes, i64::from),
            DType::U8 => conv::<u8>(&self.bytes, i64::from),
            DType::I32 => conv::<i32>(&self.bytes, i64::from),
            DType::I64 => conv::<i64>(&self.bytes, |v| v),
            _ => self.to_f64().into_iter().map(|v| v as i64).collect(),
        }
    }
}

/// One case of `ops.json`: an op applied to input tensors, with PyTorch's outputs.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique case name, e.g. `matmul.4`.
    pub name: String,
    /// The op name (see the table in the reference README), e.g. `matmul`.
    pub op: String,
    /// The op's arguments (`{"dim": 1}`); empty when there are none.
    pub args: Map<String, Value>,
    /// Keys of the input tensors in the safetensors file, in call order.
    pub inputs: Vec<String>,
    /// Keys of PyTorch's outputs.
    pub outputs: Vec<String>,
    /// Key of the gradient of the first output fed to backward, for cases with gradients.
    pub grad_output: Option<String>,
    /// Keys of PyTorch's gradients of the inputs (`None` for inputs without one: indices,
    /// masks), one per input; empty for cases without gradients.
    pub grad_inputs: Vec<Option<String>>,
    pub rtol: f64,
    pub atol: f64,
}

/// A loaded golden directory: its cases, in file order, and every tensor they name.
#[derive(Clone, Debug)]
pub struct Golden {
    pub dir: PathBuf,
    /// `generator` of `ops.json` (which PyTorch made the file), when given.
    pub generator: Option<String>,
    pub cases: Vec<Case>,
    tensors: HashMap<String, HostTensor>,
}

impl Golden {
    /// Loads `dir/ops.json` and `dir/ops.safetensors`, checking that every tensor a case names
    /// is present with a supported dtype.
    pub fn load(dir: impl AsRef<Path>) -> Result<Golden> {
        let dir = dir.as_ref().to_path_buf();
        let cases_path = dir.join(CASES_FILE);
        let tensors_path = dir.join(TENSORS_FILE);

        let text = std::fs::read_to_string(&cases_path)
            .map_err(|e| Error::file(&cases_path, format!("cannot read the file: {e}")))?;
        let (generator, cases) = parse_cases(&text).map_err(|msg| Error::file(&cases_path, msg))?;

        let bytes = std::fs::read(&tensors_path)
            .map_err(|e| Error::file(&tensors_path, format!("cannot read the file: {e}")))?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| {
            Error::file(
                &tensors_path,
                format!("not a valid safetensors file ({} bytes): {e}", bytes.len()),
            )
        })?;

        let mut tensors = HashMap::new();
        for case in &cases {
            let grads = case
                .grad_output
                .iter()
                .chain(case.grad_inputs.iter().flatten());
            for key in case.inputs.iter().chain(&case.outputs).chain(grads) {
                if tensors.contains_key(key) {
                    continue;
                }
                let tensor = read_tensor(&file, key).map_err(|msg| {
                    Error::file(
                        &tensors_path,
                        format!("tensor '{key}' of case '{}': {msg}", case.name),
                    )
                })?;
                tensors.insert(key.clone(), tensor);
            }
        }
        Ok(Golden {
            dir,
            generator,
            cases,
            tensors,
        })
    }

    /// A tensor named by one of the cases.
    pub fn tensor(&self, key: &str) -> Option<&HostTensor> {
        self.tensors.get(key)
    }
}

/// Maps a safetensors dtype to ours; `None` for dtypes Tiny-Torch does not have.
pub fn dtype_from_safetensors(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        _ => return None,
    })
}

fn read_tensor(file: &SafeTensors<'_>, key: &str) -> std::result::Result<HostTensor, String> {
    let view = file.tensor(key).map_err(|e| match e {
        safetensors::SafeTensorError::TensorNotFound(_) => "missing from the file".to_string(),
        e => e.to_string(),
    })?;
    let dtype = dtype_from_safetensors(view.dtype())
        .ok_or_else(|| format!("unsupported dtype {:?}", view.dtype()))?;
    let shape = view.shape().to_vec();
    let numel: usize = shape.iter().product();
    let data = view.data();
    if data.len() != numel * dtype.size_in_bytes() {
        return Err(format!(
            "holds {} bytes, but shape {shape:?} of {dtype} needs {}",
            data.len(),
            numel * dtype.size_in_bytes()
        ));
    }
    if dtype == DType::Bool && data.iter().any(|&b| b > 1) {
        return Err("a bool tensor holds bytes other than 0 and 1".to_string());
    }
    Ok(HostTensor {
        dtype,
        shape,
        bytes: data.to_vec(),
    })
}

fn parse_cases(text: &str) -> std::result::Result<(Option<String>, Vec<Case>), String> {
    let root: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let root = root
        .as_object()
        .ok_or("expected a JSON object with a 'cases' array at the top level")?;
    let generator = root
        .get("generator")
        .and_then(Value::as_str)
        .map(str::to_string);
    let list = root
        .get("cases")
        .and_then(Value::as_array)
        .ok_or("missing the 'cases' array")?;
    let mut cases = Vec::with_capacity(list.len());
    let mut names = std::collections::HashSet::new();
    for (i, value) in list.iter().enumerate() {
        let case = parse_case(value).map_err(|msg| format!("case {i}: {msg}"))?;
        if !names.insert(case.name.clone()) {
            return Err(format!("case {i}: duplicate case name '{}'", case.name));
        }
        cases.push(case);
    }
    Ok((generator, cases))
}

fn parse_case(value: &Value) -> std::result::Result<Case, String> {
    let obj = value.as_object().ok_or("expected a JSON object")?;
    let string = |field: &str| {
        obj.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("missing string field '{field}'"))
    };
    let name = string("name")?;
    let within = |msg: String| format!("('{name}') {msg}");
    let op = string("op").map_err(within)?;
    let keys = |field: &str| -> std::result::Result<Vec<String>, String> {
        let list = obj
            .get(field)
            .and_then(Value::as_array)
            .ok_or_else(|| within(format!("missing array field '{field}'")))?;
        list.iter()
            .map(|k| {
                k.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| within(format!("'{field}' must hold tensor names (strings)")))
            })
            .collect()
    };
    let inputs = keys("inputs")?;
    let outputs = keys("outputs")?;
    if outputs.is_empty() {
        return Err(within("'outputs' is empty".to_string()));
    }
    let tolerance = |field: &str| match obj.get(field) {
        None => Ok(0.0),
        Some(v) => v
            .as_f64()
            .filter(|t| *t >= 0.0 && t.is_finite())
            .ok_or_else(|| within(format!("'{field}' must be a finite number >= 0"))),
    };
    let rtol = tolerance("rtol")?;
    let atol = tolerance("atol")?;
    let grad_output = match obj.get("grad_output") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(within("'grad_output' must be a tensor name".to_string())),
    };
    let grad_inputs = match obj.get("grad_inputs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|k| match k {
                Value::Null => Ok(None),
                Value::String(k) => Ok(Some(k.clone())),
                _ => Err(within(
                    "'grad_inputs' must hold tensor names or nulls".to_string(),
                )),
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(_) => return Err(within("'grad_inputs' must be an array".to_string())),
    };
    if grad_output.is_some() && grad_inputs.len() != inputs.len() {
        return Err(within(format!(
            "'grad_inputs' has {} entries for {} inputs",
            grad_inputs.len(),
            inputs.len()
        )));
    }
    let args = match obj.get("args") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(within("'args' must be an object".to_string())),
    };
    Ok(Case {
        name,
        op,
        args,
        inputs,
        outputs,
        grad_output,
        grad_inputs,
        rtol,
        atol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_parse_and_report_what_is_wrong() {
        let ok = r#"{"generator": "g", "cases": [{"name": "a.0", "op": "a", "inputs": ["x"],
                    "outputs": ["y"], "rtol": 1e-5, "atol": 1e-6}]}"#;
        let (generator, cases) = parse_cases(ok).unwrap();
        assert_eq!(generator.as_deref(), Some("g"));
        assert_eq!(cases[0].op, "a");
        assert!(cases[0].args.is_empty());

        let err = parse_cases(r#"{"cases": [{"name": "a.0", "inputs": []}]}"#).unwrap_err();
        assert!(err.contains("case 0") && err.contains("'op'"), "{err}");
        let err = parse_cases("{").unwrap_err();
        assert!(err.contains("invalid JSON"), "{err}");
        let err = parse_cases("[]").unwrap_err();
        assert!(err.contains("cases"), "{err}");
    }

    #[test]
    fn host_tensors_decode_every_dtype() {
        let t = HostTensor {
            dtype: DType::BF16,
            shape: vec![2],
            bytes: bf16::to_bytes(&[bf16::from_f32(1.5), bf16::from_f32(-2.0)]),
        };
        assert_eq!(t.to_f64(), vec![1.5, -2.0]);
        let t = HostTensor {
            dtype: DType::Bool,
            shape: vec![3],
            bytes: vec![1, 0, 1],
        };
        assert_eq!(t.to_i64(), vec![1, 0, 1]);
    }
}
