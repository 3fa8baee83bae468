//! Waking another thread's event loop (the bot's asyncio loop) from tokio
//! threads with one write and no locks.
//!
//! The loop watches one end of a socket pair (asyncio's `loop.add_reader`);
//! ringing writes a byte to the other end, which makes its selector return.
//! The binding layer uses it instead of `call_soon_threadsafe`, which would make
//! the tokio thread wait for the GIL (held by the loop for as long as the bot's
//! own code runs) and create and destroy a Python thread state each time.
//! Where no socket pair exists (Windows) ringing always fails, and the caller
//! falls back to its slower path.

#[cfg(unix)]
mod imp {
    use std::io::{ErrorKind, Read, Write};
    use std::os::fd::{AsRawFd, RawFd};
    use std::os::unix::net::UnixStream;

    pub struct Doorbell {
        /// The end the loop watches and the drain empties.
        watched: UnixStream,
        bell: UnixStream,
    }

    impl Doorbell {
        pub fn new() -> std::io::Result<Self> {
            let (watched, bell) = UnixStream::pair()?;
            watched.set_nonblocking(true)?;
            bell.set_nonblocking(true)?;
            Ok(Self { watched, bell })
        }

        /// The descriptor to hand to `loop.add_reader`.
        pub fn fd(&self) -> Option<RawFd> {
            Some(self.watched.as_raw_fd())
        }

        /// Makes the watched end readable. A full buffer means it already is.
        pub fn ring(&self) -> bool {
            match (&self.bell).write(&[1]) {
                Ok(written) => written == 1,
                Err(error) => error.kind() == ErrorKind::WouldBlock,
            }
        }

        /// Takes every pending ring, so the loop is not woken again for them.
        pub fn silence(&self) {
            let mut sink = [0u8; 64];
            while matches!((&self.watched).read(&mut sink), Ok(n) if n > 0) {}
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn rung(bell: &Doorbell) -> bool {
            (&bell.watched).read(&mut [0u8; 1]).is_ok_and(|n| n == 1)
        }

        #[test]
        fn a_ring_is_pending_until_silenced() {
            let bell = Doorbell::new().expect("socket pair");
            assert!(!rung(&bell));
            assert!(bell.ring());
            bell.silence();
            assert!(!rung(&bell));
            assert!(bell.ring());
            assert!(rung(&bell));
        }

        #[test]
        fn a_bell_nobody_silences_keeps_counting_as_rung() {
            let bell = Doorbell::new().expect("socket pair");
            // Far more than the socket buffer holds.
            assert!((0..1_000_000).all(|_| bell.ring()));
            bell.silence();
            assert!(!rung(&bell));
        }
    }
}

#[cfg(not(unix))]
mod imp {
    /// No socket pair here: every ring fails, so the caller takes its
    /// fallback path.
    pub struct Doorbell;

    impl Doorbell {
        pub fn new() -> std::io::Result<Self> {
            Ok(Self)
        }

        pub fn fd(&self) -> Option<i64> {
            None
        }

        pub fn ring(&self) -> bool {
            false
        }

        pub fn silence(&self) {}
    }
}

pub use imp::Doorbell;
