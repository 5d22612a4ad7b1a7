//! A TCP proxy between a service and its PostgreSQL, which a test cuts
//! (every open connection closed, every new one closed as soon as it is
//! accepted) and restores, as a network partition or a server that went
//! away would look to the service.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use talent_server::CancellationToken;
use tokio::net::{TcpListener, TcpStream};

/// A running proxy to one upstream address.
pub struct TcpProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

struct State {
    cut: bool,
    /// Cancelled to close every connection opened before a cut.
    connections: CancellationToken,
}

impl TcpProxy {
    /// Listens on a free local port and forwards every connection to
    /// `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            cut: false,
            connections: CancellationToken::new(),
        }));
        let accept = tokio::spawn({
            let state = state.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let token = {
                        let state = state.lock().unwrap();
                        if state.cut {
                            // Refused: closed before a byte goes through.
                            drop(client);
                            continue;
                        }
                        state.connections.clone()
                    };
                    tokio::spawn(pump(client, upstream.clone(), token));
                }
            }
        });
        Self {
            addr,
            state,
            accept,
        }
    }

    /// Closes every open connection and refuses new ones until
    /// [`restore`](Self::restore).
    pub fn cut(&self) {
        let mut state = self.state.lock().unwrap();
        state.cut = true;
        state.connections.cancel();
        state.connections = CancellationToken::new();
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.state.lock().unwrap().cut = false;
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.state.lock().unwrap().connections.cancel();
    }
}

/// Copies both ways until either side closes or the proxy is cut.
async fn pump(mut client: TcpStream, upstream: String, cut: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        () = cut.cancelled() => {}
    }
}

/// `postgres://user@host:port/db?x` with `host:port` replaced by `addr`;
/// and the `host:port` it had (5432 when the URL names no port).
pub fn reroute(url: &str, addr: SocketAddr) -> (String, String) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let upstream = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let url = format!("{}{user}{addr}{}", &url[..start], &rest[authority_end..]);
    (url, upstream)
}

#[test]
fn a_url_is_rerouted_through_the_proxy() {
    let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    assert_eq!(
        reroute("postgres://postgres@127.0.0.1:5432/db?x=1", addr),
        (
            "postgres://postgres@127.0.0.1:4000/db?x=1".to_owned(),
            "127.0.0.1:5432".to_owned()
        )
    );
    assert_eq!(
        reroute("postgres://u:p@db/x", addr),
        (
            "postgres://u:p@127.0.0.1:4000/x".to_owned(),
            "db:5432".to_owned()
        )
    );
}
