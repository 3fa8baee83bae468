//! Binding the listening sockets: every address the host name resolves to.

use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel may queue (join storms arrive in bursts).
const BACKLOG: u32 = 1024;

/// Binds `host:port` on every address it resolves to (like asyncio's
/// `create_server`). With port 0 the first address picks a free port and the
/// others reuse it. Errors name the address, as Python's do.
pub async fn bind_all(host: &str, port: u16) -> io::Result<Vec<TcpListener>> {
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{host} resolves to no address"),
        ));
    }
    let mut listeners = Vec::with_capacity(addrs.len());
    let mut chosen_port = port;
    for mut addr in addrs {
        if chosen_port != 0 {
            addr.set_port(chosen_port);
        }
        let listener = bind_one(addr).map_err(|e| describe(e, addr))?;
        chosen_port = listener.local_addr()?.port();
        listeners.push(listener);
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Lets a restarted server (a cog reload) rebind at once despite TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// `error while attempting to bind on address ('127.0.0.1', 3000): address already in use`
fn describe(error: io::Error, addr: SocketAddr) -> io::Error {
    let reason = error.to_string();
    let reason = reason
        .split(" (os error")
        .next()
        .unwrap_or(&reason)
        .to_lowercase();
    let message = format!(
        "error while attempting to bind on address ('{}', {}): {}",
        addr.ip(),
        addr.port(),
        reason
    );
    match error.raw_os_error() {
        Some(code) => io::Error::new(error.kind(), OsMessage { code, message }),
        None => io::Error::new(error.kind(), message),
    }
}

/// An OS error with a friendlier message; keeps the errno for Python's OSError.
#[derive(Debug)]
pub struct OsMessage {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for OsMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OsMessage {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn busy_port_is_a_described_error() {
        let first = bind_all("127.0.0.1", 0).await.expect("bind");
        let port = first[0].local_addr().expect("addr").port();
        let error = bind_all("127.0.0.1", port)
            .await
            .expect_err("port is taken");
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(
            error.to_string(),
            format!("error while attempting to bind on address ('127.0.0.1', {port}): address already in use")
        );
        let os = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<OsMessage>())
            .expect("errno kept");
        assert_eq!(os.code, 98);
    }

    #[tokio::test]
    async fn localhost_binds_every_address_on_one_port() {
        let listeners = bind_all("localhost", 0).await.expect("bind");
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
        assert!(ports.windows(2).all(|w| w[0] == w[1]));
    }
}
