//! `http-server` under supervision: a real HTTP client against the `http-worker` guest
//! (`wasi:http/incoming-handler`) served by the host on 127.0.0.1.

use super::{events_of, free_port, get, listen_addr, request};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use theater_supervisor::{ActorId, ActorSystem, SystemConfig};
use theater_supervisor_e2e::{Fixture, cmd, component};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A `supervisor-parent` root that may pass `http-server` on (no `listen` of its own), with
/// `web.toml`: an `http-worker` listening on `listen` with `extra` settings and limits.
struct Web {
    system: ActorSystem,
    root: ActorId,
    fx: Fixture,
}

fn worker_manifest(listen: &str, extra: &str, limits: &str) -> String {
    format!(
        "name = \"web\"\ncomponent = \"{}\"\n[limits]\n{limits}\n[[handler]]\ntype = \"http-server\"\nlisten = \"{listen}\"\n{extra}\n",
        component("http-worker").display()
    )
}

impl Web {
    async fn start(listen: &str, extra: &str, limits: &str) -> Self {
        let fx = Fixture::new();
        fx.write(
            "parent.toml",
            format!(
                "name = \"parent\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"supervisor\"\n[[handler]]\ntype = \"message-server\"\n[[handler]]\ntype = \"http-server\"\n",
                component("supervisor-parent").display()
            ),
        );
        fx.write("web.toml", worker_manifest(listen, extra, limits));
        let system = ActorSystem::new(SystemConfig::default()).expect("engine");
        let root = system
            .start_root(fx.dir().join("parent.toml"))
            .await
            .expect("root starts");
        Self { system, root, fx }
    }

    async fn cmd(&self, fields: &[&str]) -> String {
        cmd(&self.system, &self.root, fields).await
    }

    async fn spawn(&self, manifest: &str) -> ActorId {
        let r = self.cmd(&["spawn", manifest]).await;
        r.strip_prefix("ok ")
            .unwrap_or_else(|| panic!("spawn {manifest}: {r}"))
            .to_string()
    }

    async fn wait_error(&self, id: &str, n: usize) -> Vec<String> {
        let prefix = format!("error {id} ");
        let mut last = Vec::new();
        for _ in 0..2000 {
            last = theater_supervisor_e2e::callbacks(&self.system, &self.root).await;
            if last.iter().filter(|l| l.starts_with(&prefix)).count() >= n {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {n} failures of {id} reported: {last:#?}");
    }
}

async fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_fails_with_500_answers_503_and_serves_again_after_restart_child() {
    let web = Web::start("127.0.0.1:0", "", "").await;
    let id = web.spawn("web.toml").await;
    let addr = listen_addr(&web.system, &id);
    assert_eq!(
        get(addr, "/").await,
        (200, format!("hello from {id}: request 1\n"))
    );

    // Concurrent clients: every request is served, one at a time by the one instance.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..5 {
                let (status, body) = get(addr, "/").await;
                assert_eq!(status, 200, "{body}");
                let n: u64 = body.trim().rsplit(' ').next().unwrap().parse().unwrap();
                seen.push(n);
            }
            seen
        }));
    }
    let mut numbers = BTreeSet::new();
    for t in tasks {
        numbers.extend(t.await.unwrap());
    }
    assert_eq!(numbers, (2..=41).collect::<BTreeSet<u64>>());
    assert_eq!(
        request(addr, "POST", "/echo", b"ping".to_vec())
            .await
            .unwrap(),
        (200, "ping".to_string())
    );

    // A trapping request: 500, the actor fails, its parent is told.
    let (status, body) = get(addr, "/crash").await;
    assert_eq!(status, 500, "{body}");
    let callbacks = web.wait_error(&id, 1).await;
    assert!(
        callbacks
            .iter()
            .any(|l| l.starts_with(&format!("error {id} internal")) && l.contains("trapped")),
        "{callbacks:#?}"
    );
    // Failed: the listener stays bound and answers 503.
    let (status, body) = get(addr, "/").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the actor is failed"), "{body}");

    // restart-child (same id): the same address serves again, from a fresh instance.
    assert_eq!(web.cmd(&["restart", &id]).await, "ok");
    assert_eq!(listen_addr(&web.system, &id), addr);
    assert_eq!(
        get(addr, "/").await,
        (200, format!("hello from {id}: request 1\n"))
    );

    // Every request the actor handled is in its chain, and the chain verifies.
    let requests = events_of(&web.system, &id, "http-server.request");
    assert_eq!(requests.len(), 1 + 40 + 1 + 1 + 1, "{requests:#?}");
    let echo = requests.iter().find(|e| e["path"] == "/echo").unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["status"], 200);
    assert_eq!(echo["request_body"]["size"], 4);
    assert_eq!(
        echo["request_body"]["sha256"],
        echo["response_body"]["sha256"]
    );
    let crash = requests.iter().find(|e| e["path"] == "/crash").unwrap();
    assert_eq!(crash["status"], 500);
    assert!(
        crash["error"].as_str().unwrap().contains("trapped"),
        "{crash}"
    );
    theater_supervisor::chain::verify(&web.system.chain(&id).unwrap(), None).unwrap();

    // Stopping it for good closes the listener.
    assert_eq!(web.cmd(&["stop", &id]).await, "ok");
    for _ in 0..200 {
        if refused(addr).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused(addr).await, "{addr} still accepts connections");
    web.system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erring_silent_and_overdue_requests_fail_the_worker_and_get_500() {
    let web = Web::start("127.0.0.1:0", "", "call_timeout_ms = 1000").await;
    assert_eq!(web.cmd(&["policy", "restart"]).await, "ok");
    let id = web.spawn("web.toml").await;
    let addr = listen_addr(&web.system, &id);
    // The parent restarts the worker after each failure (policy `restart`).
    let cases = [
        ("/err", "answered GET /err with an error"),
        ("/none", "returned without answering GET /none"),
        ("/spin", "ran past its deadline"),
        ("/sleep?ms=60000", "ran past its deadline"),
    ];
    for (n, (path, why)) in cases.iter().enumerate() {
        let (status, body) = get(addr, path).await;
        assert_eq!(status, 500, "{path}: {body}");
        let callbacks = web.wait_error(&id, n + 1).await;
        let last = callbacks
            .iter()
            .filter(|l| l.starts_with(&format!("error {id} ")))
            .nth(n)
            .unwrap();
        assert!(last.contains(why), "{path}: {last}");
        let mut served = false;
        for _ in 0..500 {
            if get(addr, "/").await.0 == 200 {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(served, "not serving again after {path}");
    }
    let callbacks = theater_supervisor_e2e::callbacks(&web.system, &web.root).await;
    assert_eq!(
        callbacks
            .iter()
            .filter(|l| l.starts_with(&format!("error {id} operation-timeout")))
            .count(),
        2,
        "{callbacks:#?}"
    );
    web.system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_worker_takes_a_failed_workers_address_over() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let web = Web::start(&listen, "", "").await;
    let first = web.spawn("web.toml").await;
    let addr = listen_addr(&web.system, &first);
    assert_eq!(addr.port(), port);
    // A second actor asking for a served address is refused, naming the one serving there.
    let r = web.cmd(&["spawn", "web.toml"]).await;
    assert!(
        r.starts_with("err ")
            && r.contains(&format!(
                "http-server: cannot listen on {listen}: actor {first} serves there"
            )),
        "{r}"
    );
    assert_eq!(get(addr, "/crash").await.0, 500);
    web.wait_error(&first, 1).await;
    assert_eq!(get(addr, "/").await.0, 503);
    let second = {
        let r = web.cmd(&["resume", "web.toml", "saved"]).await;
        r.strip_prefix("ok ")
            .unwrap_or_else(|| panic!("resume: {r}"))
            .to_string()
    };
    assert_ne!(second, first);
    assert_eq!(
        get(addr, "/").await,
        (200, format!("hello from {second}: request 1\n"))
    );
    let listen_event = events_of(&web.system, &second, "http-server.listen")
        .pop()
        .unwrap();
    assert_eq!(listen_event["socket"], format!("taken over from {first}"));
    web.system.shutdown().await;
    let _ = &web.fx;
}

/// Writes `bytes` on a raw connection and reads what comes back until the server closes it
/// (or `wait` passes): for requests no well-behaved client would send.
async fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_hold_only_their_own_connection() {
    let web = Web::start(
        "127.0.0.1:0",
        "max_body_bytes = 1024\nmax_header_bytes = 8192\nheader_timeout_ms = 1000\nbody_timeout_ms = 300\nmax_response_bytes = 65536\nmax_connections = 8",
        "memory_bytes = 4194304",
    )
    .await;
    let id = web.spawn("web.toml").await;
    let addr = listen_addr(&web.system, &id);

    // Slowloris: half a request line, then nothing. Others are served meanwhile; the server
    // closes the slow connection after header_timeout_ms (1 s).
    let slow = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let out = raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            Duration::from_secs(10),
        )
        .await;
        (out, started.elapsed())
    });
    for _ in 0..3 {
        assert_eq!(get(addr, "/").await.0, 200);
    }
    let (out, took) = slow.await.unwrap();
    assert!(
        took < Duration::from_secs(5),
        "slow connection kept open for {took:?}: {out}"
    );

    // A body larger than the limit: 413 before the actor sees it, whether announced
    // (larger than the actor's whole memory) or streamed in chunks.
    let announced = raw(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(announced.starts_with("HTTP/1.1 413"), "{announced}");
    let chunked = vec![b'y'; 2000];
    let (status, _) = request(addr, "POST", "/echo", chunked).await.unwrap();
    assert_eq!(status, 413);
    // Headers larger than max_header_bytes: 431.
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "z".repeat(10_000)
    );
    let out = raw(addr, big_header.as_bytes(), Duration::from_secs(5)).await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    // A body that never finishes arriving: 408 after body_timeout_ms.
    let out = raw(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b",
        Duration::from_secs(5),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    // A response larger than max_response_bytes: 500, and the actor keeps serving.
    let (status, body) = get(addr, "/big?bytes=100000").await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("larger than 65536 bytes"), "{body}");
    assert_eq!(get(addr, "/big?bytes=1000").await, (200, "x".repeat(1000)));
    // More connections than max_connections: the extra ones are closed at once; the server
    // takes new ones once the old are gone.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let out = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(out, "", "a connection past max_connections was served");
    drop(idle);
    let mut served = false;
    for _ in 0..200 {
        if request(addr, "GET", "/", Vec::new())
            .await
            .is_ok_and(|r| r.0 == 200)
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served);

    // None of it failed the actor.
    assert!(
        theater_supervisor_e2e::callbacks(&web.system, &web.root)
            .await
            .is_empty()
    );
    web.system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_gets_http_server_only_if_its_parent_has_it() {
    let fx = Fixture::new();
    fx.write(
        "parent.toml",
        format!(
            "name = \"parent\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"supervisor\"\n[[handler]]\ntype = \"message-server\"\n",
            component("supervisor-parent").display()
        ),
    );
    fx.write("web.toml", worker_manifest("127.0.0.1:0", "", ""));
    let system = ActorSystem::new(SystemConfig::default()).unwrap();
    let root = system
        .start_root(fx.dir().join("parent.toml"))
        .await
        .unwrap();
    let r = cmd(&system, &root, &["spawn", "web.toml"]).await;
    assert!(
        r.starts_with("err ")
            && r.contains("asks for the `http-server` handler, which its parent does not have"),
        "{r}"
    );
    system.shutdown().await;
}
