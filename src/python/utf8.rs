//! A Python `str` read as UTF-8 without copying it.

use pyo3::prelude::*;
use pyo3::types::PyString;

/// The string's UTF-8 form, kept inside the string object (no copy for ASCII).
/// `None` for a string with lone surrogates, which UTF-8 cannot hold.
pub fn utf8<'a>(text: &'a Bound<'_, PyString>) -> Option<&'a str> {
    // `PyUnicode_AsUTF8AndSize` is in the stable ABI from 3.10 and exported by
    // every CPython 3 before; pyo3 only declares it for 3.10 builds.
    extern "C" {
        fn PyUnicode_AsUTF8AndSize(
            unicode: *mut pyo3::ffi::PyObject,
            size: *mut pyo3::ffi::Py_ssize_t,
        ) -> *const std::ffi::c_char;
    }
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `text` is a live str for 'a; the UTF-8 buffer is owned by the
    // (immutable) string and freed only with it.
    let data = unsafe { PyUnicode_AsUTF8AndSize(text.as_ptr(), &mut size) };
    if data.is_null() {
        // Lone surrogates: the caller takes its Python path, which decides.
        let _ = PyErr::take(text.py());
        return None;
    }
    let len = usize::try_from(size).ok()?;
    // SAFETY: CPython returns `size` bytes of valid UTF-8 at `data`.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    std::str::from_utf8(bytes).ok()
}
