//! One TCP segment for the handshake answer and the `server-list` behind it.
//!
//! hyper writes the `101 Switching Protocols` itself, and the first frame only
//! follows once the provider has answered. Sent apart, they cost the loopback
//! path (and a real network) two segments, two wake-ups of the client and two
//! acknowledgements per connection. With the socket corked between the two,
//! Linux sends them together; it never holds corked data longer than 200 ms,
//! so a slow provider delays the handshake by at most that much.
//! Elsewhere this is a no-op.

use tokio::net::TcpStream;

/// A connection's socket, for setting and clearing `TCP_CORK`. Only used
/// while the stream it came from is open (the fd is not owned).
#[derive(Debug, Clone, Copy)]
pub struct Cork {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::RawFd,
}

impl Cork {
    pub fn of(stream: &TcpStream) -> Self {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            Self {
                fd: stream.as_raw_fd(),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = stream;
            Self {}
        }
    }

    /// Holds back what is written from now on, up to [`Cork::release`].
    pub fn hold(self) {
        self.set(true);
    }

    /// Sends what was held back, and lets later writes go out at once.
    pub fn release(self) {
        self.set(false);
    }

    #[cfg(target_os = "linux")]
    fn set(self, on: bool) {
        let value = libc::c_int::from(on);
        // SAFETY: `fd` is the open socket of the stream this came from (see the
        // type's contract); the option value is a c_int that outlives the call.
        let result = unsafe {
            libc::setsockopt(
                self.fd,
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                std::ptr::addr_of!(value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result != 0 {
            // Only the batching is lost: the data goes out uncorked.
            tracing::debug!(error = %std::io::Error::last_os_error(), on, "TCP_CORK failed");
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn set(self, _on: bool) {}
}
