//! `http-client`: a `wasm32-wasip2` actor's `wasi:http/outgoing-handler` requests reach a local
//! server the test starts only when its allow-list says so; a child's patterns must be
//! covered by its parent's.

use super::{events_of, free_port};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::net::SocketAddr;
use theater_supervisor::{ActorSystem, SystemConfig};
use theater_supervisor_e2e::{Fixture, cmd, component};

/// A plain hyper server on 127.0.0.1 answering `you sent METHOD PATH BODY`.
async fn echo_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let method = req.method().to_string();
                        let path = req.uri().path().to_string();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let text = format!(
                            "you sent {method} {path} {}",
                            String::from_utf8_lossy(&body)
                        );
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn probe(allow: Option<&str>) -> String {
    let handler = allow.map_or(String::new(), |a| {
        format!("[[handler]]\ntype = \"http-client\"\nallow = [{a}]\n")
    });
    format!(
        "name = \"probe\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"message-server\"\n{handler}",
        component("wasi-probe").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_requests_reach_allowed_authorities_only() {
    let server = echo_server().await;
    let port = server.port();
    let fx = Fixture::new();
    fx.write(
        "parent.toml",
        format!(
            "name = \"parent\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"supervisor\"\n[[handler]]\ntype = \"message-server\"\n[[handler]]\ntype = \"http-client\"\nallow = [\"127.0.0.1:*\"]\n",
            component("supervisor-parent").display()
        ),
    );
    fx.write(
        "allowed.toml",
        probe(Some(&format!("\"127.0.0.1:{port}\""))),
    );
    fx.write("none.toml", probe(None));
    fx.write("same.toml", probe(Some("\"127.0.0.1:*\"")));
    fx.write("wider.toml", probe(Some("\"127.0.0.1:*\", \"*:80\"")));
    fx.write("name.toml", probe(Some(&format!("\"localhost:{port}\""))));
    let system = ActorSystem::new(SystemConfig::default()).unwrap();
    let root = system
        .start_root(fx.dir().join("parent.toml"))
        .await
        .unwrap();
    let ask = async |id: &str, msg: &str| {
        String::from_utf8_lossy(&system.request(id, msg.as_bytes().to_vec()).await.unwrap())
            .into_owned()
    };
    let spawn = async |m: &str| cmd(&system, &root, &["spawn", m]).await;
    let ok = |r: String| {
        r.strip_prefix("ok ")
            .unwrap_or_else(|| panic!("{r}"))
            .to_string()
    };

    let id = ok(spawn("allowed.toml").await);
    assert_eq!(
        ask(&id, &format!("get http://127.0.0.1:{port}/hello")).await,
        "ok 200 you sent GET /hello "
    );
    assert_eq!(
        ask(&id, &format!("post http://127.0.0.1:{port}/p some-body")).await,
        "ok 200 you sent POST /p some-body"
    );
    // Another port, a name instead of the address: denied.
    let other = free_port();
    let denied = ask(&id, &format!("get http://127.0.0.1:{other}/")).await;
    assert_eq!(denied, "err ErrorCode::HttpRequestDenied");
    assert_eq!(
        ask(&id, &format!("get http://localhost:{port}/")).await,
        "err ErrorCode::HttpRequestDenied"
    );
    // Nor around it with raw sockets: wasi:sockets allows no address.
    let r = ask(&id, &format!("connect 127.0.0.1:{port}")).await;
    assert!(r.starts_with("err "), "{r}");

    // Every request is in the chain: authority, path, status, body sizes and digests.
    let sent = events_of(&system, &id, "http-client.request");
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[1]["method"], "POST");
    assert_eq!(sent[1]["authority"], format!("127.0.0.1:{port}"));
    assert_eq!(sent[1]["path"], "/p");
    assert_eq!(sent[1]["status"], 200);
    assert_eq!(sent[1]["request_body"]["size"], 9);
    assert_eq!(
        sent[1]["response_body"]["size"],
        "you sent POST /p some-body".len()
    );
    let refused = events_of(&system, &id, "http-client.denied");
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert_eq!(refused[0]["authority"], format!("127.0.0.1:{other}"));

    // Without the handler: every request denied.
    let none = ok(spawn("none.toml").await);
    assert_eq!(
        ask(&none, &format!("get http://127.0.0.1:{port}/")).await,
        "err ErrorCode::HttpRequestDenied"
    );
    // A child may have what its parent has, never more.
    ok(spawn("same.toml").await);
    let r = spawn("wider.toml").await;
    assert!(
        r.starts_with("err ")
            && r.contains("permission denied")
            && r.contains("asks for http-client pattern `*:80`, which its parent's patterns do not cover (127.0.0.1:*)"),
        "{r}"
    );
    let r = spawn("name.toml").await;
    assert!(r.contains(&format!("pattern `localhost:{port}`")), "{r}");
    system.shutdown().await;
}
