//! Rust errors as the Python exceptions upstream raised.

use crate::server::OsMessage;
use pyo3::exceptions::PyOSError;
use pyo3::PyErr;
use std::io;

/// `OSError(errno, message)`, so `str(e)` reads `[Errno 98] error while
/// attempting to bind on address (...): address already in use`.
pub fn os_error(error: io::Error) -> PyErr {
    if let Some(os) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<OsMessage>())
    {
        return PyOSError::new_err((os.code, os.message.clone()));
    }
    match error.raw_os_error() {
        Some(code) => PyOSError::new_err((code, error.to_string())),
        None => PyOSError::new_err(error.to_string()),
    }
}
