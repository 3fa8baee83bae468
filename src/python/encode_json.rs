//! `json.dumps(value, allow_nan=False)` for the plain data a callback returns,
//! done natively.
//!
//! A cog's user mapping is hundreds of small dicts of strings; Python's encoder
//! spends most of a join's Python time on it, on the bot's loop. Only the exact
//! built-in types (`dict` with `str` keys, `list`, `tuple`, `str`, `int`,
//! `float`, `bool`, `None`) are encoded here, since their `json.dumps` text is
//! fixed. Anything else (subclasses, other key types, NaN, lone surrogates,
//! deep or circular nesting) goes to `json.dumps` itself, so the text and the
//! errors are always exactly Python's.

use super::utf8::utf8;
use crate::protocol::pyjson;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use std::fmt::Write;

/// Deeper nesting than this is left to `json.dumps` (which detects cycles).
const MAX_DEPTH: usize = 64;

/// The value holds something only `json.dumps` may decide about.
struct Unsupported;

/// Encodes `value` exactly as `json.dumps(value, allow_nan=False)` does,
/// raising what it raises.
#[pyfunction]
pub fn encode_json(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut out = String::with_capacity(256);
    match write_value(&mut out, value, 0) {
        Ok(()) => Ok(out),
        Err(Unsupported) => python_dumps(value),
    }
}

fn python_dumps(value: &Bound<'_, PyAny>) -> PyResult<String> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = value.py();
    let dumps = DUMPS.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("json")?.getattr("dumps")?.unbind())
    })?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("allow_nan", false)?;
    dumps.bind(py).call((value,), Some(&kwargs))?.extract()
}

fn write_value(
    out: &mut String,
    value: &Bound<'_, PyAny>,
    depth: usize,
) -> Result<(), Unsupported> {
    if depth > MAX_DEPTH {
        return Err(Unsupported);
    }
    if let Ok(text) = value.cast_exact::<PyString>() {
        pyjson::write_str(out, utf8(text).ok_or(Unsupported)?);
    } else if let Ok(map) = value.cast_exact::<PyDict>() {
        out.push('{');
        for (i, (key, item)) in map.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let key = key.cast_exact::<PyString>().map_err(|_| Unsupported)?;
            pyjson::write_str(out, utf8(key).ok_or(Unsupported)?);
            out.push_str(": ");
            write_value(out, &item, depth + 1)?;
        }
        out.push('}');
    } else if value.is_none() {
        out.push_str("null");
    } else if let Ok(flag) = value.cast_exact::<PyBool>() {
        out.push_str(if flag.is_true() { "true" } else { "false" });
    } else if let Ok(int) = value.cast_exact::<PyInt>() {
        match int.extract::<i64>() {
            Ok(small) => {
                let _ = write!(out, "{small}");
            }
            // Beyond 64 bits: `str()` of an exact int is its JSON text.
            Err(_) => out.push_str(
                &int.str()
                    .map_err(|_| Unsupported)?
                    .to_cow()
                    .map_err(|_| Unsupported)?,
            ),
        }
    } else if let Ok(float) = value.cast_exact::<PyFloat>() {
        let f = float.value();
        if !f.is_finite() {
            return Err(Unsupported); // json.dumps raises ValueError
        }
        out.push_str(&pyjson::float_repr(f));
    } else if let Ok(items) = value.cast_exact::<PyList>() {
        write_items(out, items.iter(), depth)?;
    } else if let Ok(items) = value.cast_exact::<PyTuple>() {
        write_items(out, items.iter(), depth)?;
    } else {
        return Err(Unsupported);
    }
    Ok(())
}

fn write_items<'py>(
    out: &mut String,
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
) -> Result<(), Unsupported> {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_value(out, &item, depth + 1)?;
    }
    out.push(']');
    Ok(())
}
