use super::*;
use crate::http::responses::tests::{body_bytes, header};
use crate::http::responses::NOT_FOUND_BODY;
use std::fs;
use tempfile::TempDir;

const SECRET: &str = "top secret";

/// base/{static/, static2/secret.txt, outside/secret.txt} plus symlinks.
fn fixture() -> (TempDir, PathBuf) {
    let base = tempfile::tempdir().expect("tempdir");
    let b = base.path();
    let root = b.join("static");
    for dir in [
        "static/css",
        "static/img",
        "static/sub",
        "static2",
        "outside",
    ] {
        fs::create_dir_all(b.join(dir)).expect("mkdir");
    }
    let files: [(&str, &[u8]); 10] = [
        ("static/index.html", b"<h1>home</h1>"),
        ("static/css/main.css", b"body{}"),
        ("static/img/a.png", b"\x89PNG\r\n"),
        ("static/sub/index.html", b"sub"),
        ("static/FEED.XML", b"<x/>"),
        ("static/noext", b"raw"),
        ("static/with space.txt", b"spaced"),
        ("static/caf\u{e9}.txt", b"accent"),
        ("static2/secret.txt", SECRET.as_bytes()),
        ("outside/secret.txt", SECRET.as_bytes()),
    ];
    for (name, data) in files {
        fs::write(b.join(name), data).expect("write");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        let links = [
            ("static/evil.txt", b.join("outside/secret.txt")),
            ("static/evildir", b.join("outside")),
            ("static/s2", PathBuf::from("../static2")),
            ("static/alias.css", PathBuf::from("css/main.css")),
            ("static/cssalias", b.join("static/css")),
            ("static/loop", b.join("static/loop")),
            ("static/dangling.txt", b.join("static/nope.txt")),
            ("link_root", root.clone()),
        ];
        for (link, target) in links {
            symlink(target, b.join(link)).expect("symlink");
        }
    }
    (base, root)
}

async fn get(root: &Path, path: &str) -> (u16, String, Vec<u8>) {
    let resp = serve_from_dir(root, path, false).await;
    let status = resp.status().as_u16();
    let ct = header(&resp, "content-type").to_owned();
    assert_eq!(header(&resp, "server"), "d-back");
    let len = header(&resp, "content-length").to_owned();
    let body = body_bytes(resp).await.to_vec();
    assert_eq!(len, body.len().to_string(), "Content-Length for {path}");
    (status, ct, body)
}

async fn status(root: &Path, path: &str) -> u16 {
    let (status, _, body) = get(root, path).await;
    assert_ne!(body, SECRET.as_bytes(), "{path} leaked the secret");
    status
}

/// `abs` as a path relative to the process CWD (no chdir: tests run in parallel).
fn relative_to_cwd(abs: &Path) -> PathBuf {
    let cwd = std::env::current_dir().expect("cwd");
    let mut rel = PathBuf::new();
    for _ in cwd.components().skip(1) {
        rel.push("..");
    }
    rel.join(abs.strip_prefix("/").expect("absolute"))
}

#[tokio::test]
async fn index_mapping_only_at_root() {
    let (_base, root) = fixture();
    for path in ["/", ""] {
        let (st, ct, body) = get(&root, path).await;
        assert_eq!(
            (st, ct.as_str(), &body[..]),
            (200, "text/html", &b"<h1>home</h1>"[..])
        );
    }
    for path in ["/sub/", "/sub", "//", "/css", "/css/", "/./"] {
        let (st, ct, body) = get(&root, path).await;
        assert_eq!((st, ct.as_str()), (404, "text/html"), "{path}");
        assert_eq!(body, NOT_FOUND_BODY.as_bytes());
    }
    assert_eq!(status(&root, "/sub/index.html").await, 200);
}

#[tokio::test]
async fn nested_files_and_content_types() {
    let (_base, root) = fixture();
    let cases: [(&str, &str, &[u8]); 7] = [
        ("/css/main.css", "text/css", b"body{}"),
        ("/img/a.png", "image/png", b"\x89PNG\r\n"),
        ("/FEED.XML", "application/xml", b"<x/>"),
        ("/noext", "application/octet-stream", b"raw"),
        ("/index.html/", "text/html", b"<h1>home</h1>"),
        ("/css//./main.css", "text/css", b"body{}"),
        ("/with%20space.txt", "text/plain", b"spaced"),
    ];
    for (path, want_ct, want_body) in cases {
        let (st, ct, body) = get(&root, path).await;
        assert_eq!(
            (st, ct.as_str(), &body[..]),
            (200, want_ct, want_body),
            "{path}"
        );
    }
    let (st, _, body) = get(&root, "/caf%C3%A9.txt").await;
    assert_eq!((st, &body[..]), (200, &b"accent"[..]));
}

#[tokio::test]
async fn decoding_edge_cases_are_404() {
    let (_base, root) = fixture();
    // invalid UTF-8; double-encoded dots are a literal name; bad escapes stay literal
    for path in [
        "/%ff",
        "/caf%E9.txt",
        "/%252e%252e/static2/secret.txt",
        "/%zz",
        "/%",
    ] {
        assert_eq!(status(&root, path).await, 404, "{path}");
    }
}

#[tokio::test]
async fn traversal_is_forbidden() {
    let (_base, root) = fixture();
    let paths = [
        "/../static2/secret.txt",
        "/%2e%2e/static2/secret.txt",
        "/%2E%2e/static2/secret.txt",
        "/.%2E/static2/secret.txt",
        "/%2e./static2/secret.txt",
        "/css/../../static2/secret.txt",
        "/css/../index.html",
        "/..%2fstatic2%2fsecret.txt",
        "/..%2Fstatic2/secret.txt",
        "/%2e%2e%2fstatic2%2fsecret.txt",
        "/css%2fmain.css",
        "/..\\static2\\secret.txt",
        "/..%5cstatic2%5csecret.txt",
        "/css%5Cmain.css",
        "/index.html%00.png",
        "/%00",
        "/..",
        "..",
        "../static2/secret.txt",
    ];
    for path in paths {
        let (st, ct, body) = get(&root, path).await;
        assert_eq!(
            (st, ct.as_str(), &body[..]),
            (403, "text/plain", &b"Forbidden"[..]),
            "{path}"
        );
    }
}

#[tokio::test]
async fn absolute_path_tricks_stay_under_root() {
    let (base, root) = fixture();
    let secret = base.path().join("outside/secret.txt");
    let abs = format!("/{}", secret.display());
    for path in [
        "//etc/passwd",
        "///etc/passwd",
        abs.as_str(),
        &format!("/{abs}"),
    ] {
        assert_eq!(status(&root, path).await, 404, "{path}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_outside_are_forbidden_inside_are_fine() {
    let (_base, root) = fixture();
    for path in [
        "/evil.txt",
        "/evildir",
        "/evildir/secret.txt",
        "/evildir/missing.txt",
        "/s2/secret.txt",
        "/loop",
    ] {
        assert_eq!(status(&root, path).await, 403, "{path}");
    }
    let (st, ct, body) = get(&root, "/alias.css").await;
    assert_eq!(
        (st, ct.as_str(), &body[..]),
        (200, "text/css", &b"body{}"[..])
    );
    assert_eq!(status(&root, "/cssalias/main.css").await, 200);
    assert_eq!(status(&root, "/cssalias/missing.css").await, 404);
    assert_eq!(status(&root, "/dangling.txt").await, 404);
}

#[cfg(unix)]
#[tokio::test]
async fn root_may_be_a_symlink_or_relative() {
    let (base, root) = fixture();
    let link_root = base.path().join("link_root");
    for r in [
        link_root.clone(),
        relative_to_cwd(&root),
        relative_to_cwd(&link_root),
    ] {
        assert!(r.is_relative() || r == link_root);
        assert_eq!(status(&r, "/css/main.css").await, 200, "{}", r.display());
        assert_eq!(status(&r, "/alias.css").await, 200);
        assert_eq!(status(&r, "/evil.txt").await, 403);
        assert_eq!(status(&r, "/../static2/secret.txt").await, 403);
    }
}

#[tokio::test]
async fn sibling_with_shared_prefix_is_not_served() {
    let (base, root) = fixture();
    assert!(!base.path().join("static2").starts_with(&root));
    assert_eq!(status(&root, "/../static2/secret.txt").await, 403);
    assert_eq!(status(&root, "2/secret.txt").await, 404);
}

#[tokio::test]
async fn missing_root_is_404_for_everything() {
    let (base, root) = fixture();
    let missing = base.path().join("nope");
    for path in [
        "/",
        "/index.html",
        "/../static2/secret.txt",
        "//",
        "/%2e%2e",
    ] {
        assert_eq!(status(&missing, path).await, 404, "{path}");
    }
    // A file as root is a misconfiguration: nothing is served from it.
    let file_root = root.join("index.html");
    for path in ["/", "/index.html", "//", "/x/y"] {
        assert_eq!(status(&file_root, path).await, 404, "{path}");
    }
}

#[tokio::test]
async fn head_has_length_but_no_body() {
    let (_base, root) = fixture();
    for (path, st, len) in [
        ("/css/main.css", 200, 6),
        ("/nope", 404, NOT_FOUND_BODY.len()),
        ("/..", 403, 9),
    ] {
        let resp = serve_from_dir(&root, path, true).await;
        assert_eq!(resp.status().as_u16(), st, "{path}");
        assert_eq!(header(&resp, "content-length"), len.to_string(), "{path}");
        assert!(body_bytes(resp).await.is_empty(), "{path}");
    }
}

#[tokio::test]
async fn oversized_file_is_500_without_reading() {
    let (_base, root) = fixture();
    let big = fs::File::create(root.join("big.bin")).expect("create");
    big.set_len(MAX_FILE_BYTES + 1).expect("sparse file");
    let (st, ct, body) = get(&root, "/big.bin").await;
    assert_eq!(
        (st, ct.as_str(), &body[..]),
        (500, "text/plain", &b"Internal Server Error"[..])
    );
}

#[cfg(unix)]
#[tokio::test]
async fn fifo_is_404_without_blocking() {
    let (_base, root) = fixture();
    let made = std::process::Command::new("mkfifo")
        .arg(root.join("pipe"))
        .status();
    if !made.is_ok_and(|s| s.success()) {
        return; // no mkfifo here; nothing to check
    }
    let served = tokio::time::timeout(std::time::Duration::from_secs(5), get(&root, "/pipe"));
    assert_eq!(served.await.expect("blocked on a FIFO").0, 404);
}

#[tokio::test]
async fn serve_file_absolute_relative_missing_directory() {
    let (base, root) = fixture();
    let css = root.join("css/main.css");
    for p in [css.clone(), relative_to_cwd(&css)] {
        let resp = serve_file(&p, "text/x-custom", false).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "content-type"), "text/x-custom");
        assert_eq!(header(&resp, "content-length"), "6");
        assert_eq!(body_bytes(resp).await, &b"body{}"[..]);
    }
    // No containment check: any readable file, symlinks followed.
    let secret = base.path().join("outside/secret.txt");
    let resp = serve_file(&secret, "text/plain", false).await;
    assert_eq!(body_bytes(resp).await, SECRET.as_bytes());
    #[cfg(unix)]
    assert_eq!(
        serve_file(&root.join("evil.txt"), "a/b", false)
            .await
            .status(),
        200
    );
    for p in [
        root.join("nope.txt"),
        root.join("css"),
        PathBuf::new(),
        root.join("index.html/x"),
    ] {
        let resp = serve_file(&p, "text/plain", false).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{}", p.display());
        assert_eq!(header(&resp, "content-type"), "text/html");
    }
}

#[tokio::test]
async fn serve_file_head_and_bad_content_type() {
    let (_base, root) = fixture();
    let resp = serve_file(&root.join("index.html"), "text/html", true).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "content-length"), "13");
    assert!(body_bytes(resp).await.is_empty());
    let resp = serve_file(&root.join("index.html"), "text/html\nX: y", false).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
