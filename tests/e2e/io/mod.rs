//! The I/O handlers on WASI 0.2 (CONTRACT §8): `http-server`, `http-client`, `filesystem`,
//! `environment`, with the `wasm32-wasip2` guests `http-worker` and `wasi-probe`, on real
//! sockets on 127.0.0.1 and real files.

mod environment;
mod filesystem;
mod http_client;
mod http_server;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::time::Duration;
use theater_supervisor::ActorSystem;
use tokio::net::TcpStream;

/// The data of every event of type `ty` in `id`'s chain, oldest first.
pub fn events_of(system: &ActorSystem, id: &str, ty: &str) -> Vec<serde_json::Value> {
    system
        .chain(id)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.event_type == ty)
        .map(|e| serde_json::from_slice(&e.data).expect("event data is JSON"))
        .collect()
}

/// The address an `http-server` actor listens on (from its `http-server.listen` event).
pub fn listen_addr(system: &ActorSystem, id: &str) -> SocketAddr {
    let e = events_of(system, id, "http-server.listen")
        .pop()
        .unwrap_or_else(|| panic!("{id} has no http-server.listen event"));
    e["address"].as_str().unwrap().parse().unwrap()
}

/// One HTTP/1.1 request on a fresh connection with hyper's client: status and body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, String), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .map_err(|_| "no response within 30 s".to_string())?
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// `GET path`; panics if no response arrives.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"))
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
