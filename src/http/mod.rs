//! HTTP/1.1 on the shared port: static files, the tiny API, and the WebSocket upgrade.

pub mod content_type;
pub mod responses;
pub mod static_files;

use bytes::Bytes;
use http_body_util::Full;

/// Every response body we send is small and fully buffered.
pub type Body = Full<Bytes>;
