//! Static files: the `static_dir` tree, and single files named by the Python
//! `on_static_request` override (spec §5.2).
//!
//! All file-system access goes through `tokio::fs` (blocking pool), never on a
//! worker thread (spec §7 row 6). Files are small web assets and are served fully
//! buffered, up to [`MAX_FILE_BYTES`].

use std::borrow::Cow;
use std::io::{self, ErrorKind};
use std::path::{Component, Path, PathBuf};

use hyper::{Response, StatusCode};
use percent_encoding::percent_decode_str;
use tokio::io::AsyncReadExt;

use crate::http::content_type::content_type_for;
use crate::http::responses::{bytes_response, forbidden, internal_error, not_found, strip_body};
use crate::http::Body;

/// Larger files are refused with 500 and never read (they are not web assets).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Serves `request_path` (raw: query removed, not yet percent-decoded) from `root`.
///
/// `/` and the empty path mean `/index.html`; nothing else is mapped (`/sub/` is
/// a 404). Leading slashes are stripped, so `//etc/passwd` names
/// `root/etc/passwd`, as upstream. Each `/`-separated segment is percent-decoded
/// once; empty and `.` segments are skipped.
///
/// * 403 `Forbidden` — anything that tries to leave the root or to smuggle a
///   separator: a `..` segment (literal or encoded, even when it would stay
///   inside), `%2f`, a backslash (literal or `%5c`), NUL, a segment the platform
///   would not treat as one plain name; a resolved path (symlinks followed)
///   outside the canonical root, also when the file is missing but its deepest
///   existing ancestor lies outside; other resolve errors (symlink loops,
///   permission denied).
/// * 404 — missing root (for every request), missing file, directories and
///   other non-regular files, a segment that is not UTF-8 once decoded (no file
///   we serve can be named by it).
/// * 500 — files over [`MAX_FILE_BYTES`] and read errors.
///
/// The Content-Type comes from the requested name, not a symlink's target.
pub async fn serve_from_dir(root: &Path, request_path: &str, head_only: bool) -> Response<Body> {
    let resp = from_dir(root, request_path).await;
    if head_only {
        strip_body(resp)
    } else {
        resp
    }
}

/// Serves the file at `path` (relative → process CWD, symlinks followed) with
/// `content_type`. No containment check: the Python callback chose the path.
/// Not an existing regular file → 404.
pub async fn serve_file(path: &Path, content_type: &str, head_only: bool) -> Response<Body> {
    let resp = read_regular_file(path, content_type).await;
    if head_only {
        strip_body(resp)
    } else {
        resp
    }
}

async fn from_dir(root: &Path, request_path: &str) -> Response<Body> {
    let root = match tokio::fs::canonicalize(root).await {
        Ok(root) => root,
        Err(err) => {
            tracing::debug!(root = %root.display(), %err, "static root unavailable");
            return not_found();
        }
    };
    let rel = match relative_path(request_path) {
        Ok(rel) => rel,
        Err(Reject::Forbidden) => return forbidden(),
        Err(Reject::NotFound) => return not_found(),
    };
    if rel.as_os_str().is_empty() {
        return not_found(); // the root itself, e.g. `//`
    }
    let target = root.join(&rel);
    let resolved = match tokio::fs::canonicalize(&target).await {
        Ok(resolved) => resolved,
        Err(err) if is_missing(&err) => return missing(&root, &target).await,
        Err(err) => {
            tracing::debug!(path = %target.display(), %err, "cannot resolve static path");
            return forbidden();
        }
    };
    if !resolved.starts_with(&root) {
        tracing::debug!(path = %target.display(), "static path resolves outside the root");
        return forbidden();
    }
    read_regular_file(&resolved, content_type_for(&rel)).await
}

/// Why a request path was refused before touching the file system.
enum Reject {
    Forbidden,
    NotFound,
}

/// Turns the raw request path into a root-relative path of plain names.
fn relative_path(request_path: &str) -> Result<PathBuf, Reject> {
    let path = match request_path {
        "" | "/" => "/index.html",
        other => other,
    };
    let mut rel = PathBuf::new();
    for raw in path.trim_start_matches('/').split('/') {
        let decoded: Cow<'_, [u8]> = percent_decode_str(raw).into();
        if decoded.iter().any(|b| matches!(b, b'/' | b'\\' | 0)) {
            return Err(Reject::Forbidden);
        }
        let Ok(segment) = std::str::from_utf8(&decoded) else {
            return Err(Reject::NotFound);
        };
        match segment {
            "" | "." => continue,
            ".." => return Err(Reject::Forbidden),
            _ => {}
        }
        // Guards against platform-specific forms (e.g. `C:` on Windows).
        let mut parts = Path::new(segment).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(name)), None) if name == segment => rel.push(name),
            _ => return Err(Reject::Forbidden),
        }
    }
    Ok(rel)
}

/// `target` does not exist: 403 if its deepest existing ancestor resolves
/// outside `root` (a symlinked directory pointing out), else 404. Keeps the
/// answer for escaping paths the same whether or not the file exists.
async fn missing(root: &Path, target: &Path) -> Response<Body> {
    for ancestor in target.ancestors().skip(1) {
        if let Ok(real) = tokio::fs::canonicalize(ancestor).await {
            return if real.starts_with(root) {
                not_found()
            } else {
                forbidden()
            };
        }
        if ancestor == root {
            break;
        }
    }
    not_found()
}

fn is_missing(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// 200 with the file's bytes if `path` is a regular file of acceptable size.
async fn read_regular_file(path: &Path, content_type: &str) -> Response<Body> {
    // stat before open: opening a FIFO would block a blocking-pool thread.
    match tokio::fs::metadata(path).await {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return not_found(),
        Err(err) if is_missing(&err) => return not_found(),
        Err(err) => return read_failed(path, &err),
    }
    match read_limited(path).await {
        Ok(Some(bytes)) => bytes_response(StatusCode::OK, content_type, bytes.into(), false),
        Ok(None) => {
            tracing::warn!(
                path = %path.display(),
                limit = MAX_FILE_BYTES,
                "static file too large to serve"
            );
            internal_error()
        }
        Err(err) if is_missing(&err) => not_found(),
        Err(err) => read_failed(path, &err),
    }
}

/// Reads at most [`MAX_FILE_BYTES`]; `None` if the file is larger (checked on the
/// open handle and again while reading, in case it grows).
async fn read_limited(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Err(ErrorKind::NotFound.into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Ok(None);
    }
    let capacity = usize::try_from(meta.len()).unwrap_or(0);
    let mut buf = Vec::with_capacity(capacity);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf).await?;
    Ok((buf.len() as u64 <= MAX_FILE_BYTES).then_some(buf))
}

fn read_failed(path: &Path, err: &io::Error) -> Response<Body> {
    tracing::warn!(path = %path.display(), %err, "cannot read static file");
    internal_error()
}

#[cfg(test)]
mod tests;
