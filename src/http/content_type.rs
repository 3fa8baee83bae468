//! Content types for static files.
//!
//! Upstream asked Python's `mimetypes`, whose answer depends on the host's
//! `/etc/mime.types`. We use a fixed table (spec §5.4) so every machine serves the
//! same headers.

use std::path::Path;

/// Fallback for unknown or missing extensions.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The Content-Type for `path`, from its extension (case-insensitive).
///
/// No `charset` parameter is added, matching upstream.
pub fn content_type_for(path: &Path) -> &'static str {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return OCTET_STREAM;
    };
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/vnd.microsoft.icon",
        "wasm" => "application/wasm",
        "txt" => "text/plain",
        "webp" => "image/webp",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "xml" => "application/xml",
        _ => OCTET_STREAM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(p: &str) -> &'static str {
        content_type_for(Path::new(p))
    }

    #[test]
    fn fixed_table() {
        let table = [
            ("a.html", "text/html"),
            ("a.htm", "text/html"),
            ("a.css", "text/css"),
            ("a.js", "text/javascript"),
            ("a.mjs", "text/javascript"),
            ("a.json", "application/json"),
            ("a.png", "image/png"),
            ("a.jpg", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.gif", "image/gif"),
            ("a.svg", "image/svg+xml"),
            ("a.ico", "image/vnd.microsoft.icon"),
            ("a.wasm", "application/wasm"),
            ("a.txt", "text/plain"),
            ("a.webp", "image/webp"),
            ("a.woff", "font/woff"),
            ("a.woff2", "font/woff2"),
            ("a.xml", "application/xml"),
            ("a.map", OCTET_STREAM),
            ("a.js.map", OCTET_STREAM),
        ];
        for (name, want) in table {
            assert_eq!(ct(name), want, "{name}");
        }
    }

    #[test]
    fn case_insensitive() {
        assert_eq!(ct("INDEX.HTML"), "text/html");
        assert_eq!(ct("/x/Logo.PnG"), "image/png");
        assert_eq!(ct("feed.XML"), "application/xml");
    }

    #[test]
    fn unknown_or_missing_extension() {
        assert_eq!(ct("README"), OCTET_STREAM);
        assert_eq!(ct("archive.tar.gz"), OCTET_STREAM);
        assert_eq!(ct(".htaccess"), OCTET_STREAM);
        assert_eq!(ct("dir/"), OCTET_STREAM);
        assert_eq!(ct(""), OCTET_STREAM);
        assert_eq!(ct("file."), OCTET_STREAM);
    }
}
