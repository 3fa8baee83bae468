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
        pyjson::write_str(out, utf8(text)?);
    } else if let Ok(map) = value.cast_exact::<PyDict>() {
        out.push('{');
        for (i, (key, item)) in map.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let key = key.cast_exact::<PyString>().map_err(|_| Unsupported)?;
            pyjson::write_str(out, utf8(key)?);
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

/// The string's UTF-8 form, kept inside the string object (no copy for ASCII).
/// `None` for a string with lone surrogates, which UTF-8 cannot hold.
fn utf8<'a>(text: &'a Bound<'_, PyString>) -> Result<&'a str, Unsupported> {
    // `PyUnicode_AsUTF8AndSize` is in the stable ABI from 3.10 and exported by
    // every CPython 3 before; pyo3 only declares it for 3.10 builds.
    extern "C" {
        fn PyUnicode_AsUTF8AndSize(
            unicode: *mut pyo3::ffi::PyObject,
            size: *mut pyo3::ffi::Py_ssize_t,
        ) -> *const std::ffi::c_char;
    }
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `text` is a live str (the GIL is held through the borrow); the
    // buffer belongs to it and lives as long as it does.
    let data = unsafe { PyUnicode_AsUTF8AndSize(text.as_ptr(), &mut size) };
    if data.is_null() {
        // The UnicodeEncodeError is json.dumps's to decide about.
        let _ = PyErr::take(text.py());
        return Err(Unsupported);
    }
    let len = usize::try_from(size).map_err(|_| Unsupported)?;
    // SAFETY: CPython returns `size` bytes of valid UTF-8 at `data`.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|_| Unsupported)
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
