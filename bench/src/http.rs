//! HTTP figures: requests per second and latency through a supervised `http-server` actor,
//! against the same `http-worker` component served by a plain wasmtime-wasi-http embedding
//! (`ProxyPre` + hyper, one instance per request, as in wasmtime-wasi-http's own example),
//! measured in the same run by the same client: a fixed number of keep-alive connections on
//! 127.0.0.1, each sending `GET /` as soon as the previous answer arrived. Plus the
//! crash-to-serving gap of a supervised worker restarted by its parent without backoff.

use super::{Figure, latency, pooled, progress, scalar, wt};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use theater_supervisor::{ActorSystem, SystemConfig, engine_config};
use tokio::net::{TcpListener, TcpStream};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Client connections, the same for both servers.
const CONNECTIONS: usize = 16;

/// The plain embedding's per-request store data.
struct PlainHost {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for PlainHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PlainHost {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// wasmtime-wasi-http's documented embedding: `ProxyPre`, a fresh store and instance per
/// request, hyper's HTTP/1.1 server, no supervision, no chain. Same engine configuration as
/// the host (pooling allocator). The worker's one `theater:simple/runtime` import (`log`, only
/// called from `init`, which this embedding never calls) is a no-op.
async fn plain_server(component: &Path) -> Result<SocketAddr> {
    let engine = Engine::new(&engine_config(&pooled(200), None).map_err(wt)?).map_err(wt)?;
    let component = Component::from_file(&engine, component).map_err(wt)?;
    let mut linker: Linker<PlainHost> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wt)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(wt)?;
    linker
        .instance("theater:simple/runtime")
        .and_then(|mut i| i.func_wrap("log", |_, (_msg,): (String,)| Ok(())))
        .map_err(wt)?;
    let pre = ProxyPre::new(linker.instantiate_pre(&component).map_err(wt)?).map_err(wt)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let pre = Arc::new(pre);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let pre = pre.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let pre = pre.clone();
                    async move { plain_request(&pre, req).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

async fn plain_request(
    pre: &ProxyPre<PlainHost>,
    req: hyper::Request<hyper::body::Incoming>,
) -> wasmtime::Result<hyper::Response<HyperOutgoingBody>> {
    let mut store = Store::new(
        pre.engine(),
        PlainHost {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        },
    );
    store.set_epoch_deadline(u64::MAX / 2);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)?;
    let out = store.data_mut().http().new_response_outparam(sender)?;
    let pre = pre.clone();
    let task = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
    });
    match receiver.await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => match task.await {
            Ok(Ok(())) => wasmtime::bail!("the guest never set a response"),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.into()),
        },
    }
}

/// A supervised `http-worker` root on 127.0.0.1:0, default host settings (no event store).
async fn supervised_server(fx: &Path, component: &Path) -> Result<(ActorSystem, SocketAddr)> {
    let m = fx.join("http-worker.toml");
    std::fs::write(
        &m,
        format!(
            "name = \"web\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"http-server\"\nlisten = \"127.0.0.1:0\"\n",
            component.display()
        ),
    )?;
    let system = ActorSystem::new(SystemConfig {
        allocator: pooled(200),
        inherit_stdio: false,
        ..SystemConfig::default()
    })?;
    let id = system.start_root(&m).await?;
    let addr = listen_addr(&system, &id)?;
    Ok((system, addr))
}

fn listen_addr(system: &ActorSystem, id: &str) -> Result<SocketAddr> {
    let chain = system.chain(id).context("no chain")?;
    let e = chain
        .iter()
        .rev()
        .find(|e| e.event_type == "http-server.listen")
        .context("no http-server.listen event")?;
    let v: serde_json::Value = serde_json::from_slice(&e.data)?;
    Ok(v["address"].as_str().context("no address")?.parse()?)
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn get(sender: &mut Sender, addr: SocketAddr, path: &str) -> Result<u16> {
    sender.ready().await?;
    let req = hyper::Request::builder()
        .uri(path)
        .header("host", addr.to_string())
        .body(Empty::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

/// `CONNECTIONS` connections sending `GET /` back to back for `d`: requests answered `200`
/// and the latency of each (ns).
async fn load(addr: SocketAddr, d: Duration) -> Result<(usize, Vec<u64>)> {
    let until = Instant::now() + d;
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await?;
            let mut ns = Vec::new();
            while Instant::now() < until {
                let t0 = Instant::now();
                let status = get(&mut sender, addr, "/").await?;
                if status != 200 {
                    bail!("GET / answered {status}");
                }
                ns.push(t0.elapsed().as_nanos() as u64);
            }
            Ok::<_, anyhow::Error>(ns)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all.len(), all))
}

/// The HTTP figures (see the module docs).
pub async fn run(root: &Path, fx: &Path, quick: bool, figs: &mut Vec<Figure>) -> Result<()> {
    let component = root.join("target/actors/http-worker.wasm");
    if !component.exists() {
        bail!(
            "{} is missing: run `just guests` first",
            component.display()
        );
    }
    let (round, rounds) = if quick {
        (Duration::from_millis(300), 1)
    } else {
        (Duration::from_secs(3), 2)
    };
    progress(&format!(
        "HTTP: {CONNECTIONS} connections, GET /, supervised http-server vs plain ProxyPre + hyper, {rounds} × {round:?} each, alternating"
    ));
    let plain = plain_server(&component).await?;
    let (system, supervised) = supervised_server(fx, &component).await?;
    // Warm-up: compiled code, pooled slots, connections.
    load(plain, Duration::from_millis(300)).await?;
    load(supervised, Duration::from_millis(300)).await?;
    let (mut n_plain, mut n_sup) = (0, 0);
    let (mut ns_plain, mut ns_sup) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (n, ns) = load(plain, round).await?;
        n_plain += n;
        ns_plain.extend(ns);
        let (n, ns) = load(supervised, round).await?;
        n_sup += n;
        ns_sup.extend(ns);
    }
    let secs = (round * rounds).as_secs_f64();
    let (rps_plain, rps_sup) = (n_plain as f64 / secs, n_sup as f64 / secs);
    let lat_sup = latency("HTTP latency, supervised http-server", ns_sup, None);
    let lat_plain = latency("HTTP latency, plain ProxyPre + hyper", ns_plain, None);
    let p50_ratio = lat_sup.p50.unwrap_or(f64::NAN) / lat_plain.p50.unwrap_or(f64::NAN);
    figs.push(scalar(
        &format!("HTTP requests/s, supervised http-server ({CONNECTIONS} conns)"),
        "1/s",
        rps_sup,
        n_sup,
        None,
    ));
    figs.push(scalar(
        &format!("HTTP requests/s, plain ProxyPre + hyper ({CONNECTIONS} conns)"),
        "1/s",
        rps_plain,
        n_plain,
        None,
    ));
    figs.push(scalar(
        "HTTP throughput ratio supervised / plain",
        "×",
        rps_sup / rps_plain,
        n_sup,
        Some("≥ 0.7×"),
    ));
    figs.push(lat_sup);
    figs.push(lat_plain);
    figs.push(scalar(
        "HTTP p50 latency ratio supervised / plain",
        "×",
        p50_ratio,
        n_sup,
        Some("≤ 1.5×"),
    ));
    system.shutdown().await;

    crash_gap(root, fx, if quick { 3 } else { 20 }, figs).await
}

/// A worker under a `supervisor-parent` that restarts a failed child at once (policy
/// `restart`, no backoff): `GET /crash` (500), then `GET /` until it answers 200 again. The
/// gap is from the 500 to that 200 (the 503s in between are counted).
async fn crash_gap(root: &Path, fx: &Path, n: usize, figs: &mut Vec<Figure>) -> Result<()> {
    progress(&format!(
        "HTTP: crash to serving again, {n} crashes, restarted by the parent without backoff"
    ));
    let parent = root.join("target/actors/supervisor-parent.wasm");
    let worker = root.join("target/actors/http-worker.wasm");
    std::fs::write(
        fx.join("http-parent.toml"),
        format!(
            "name = \"parent\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"supervisor\"\n[[handler]]\ntype = \"message-server\"\n[[handler]]\ntype = \"http-server\"\n",
            parent.display()
        ),
    )?;
    std::fs::write(
        fx.join("http-child.toml"),
        format!(
            "name = \"web\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"http-server\"\nlisten = \"127.0.0.1:0\"\n",
            worker.display()
        ),
    )?;
    let system = ActorSystem::new(SystemConfig {
        allocator: pooled(200),
        inherit_stdio: false,
        ..SystemConfig::default()
    })?;
    let root_id = system.start_root(fx.join("http-parent.toml")).await?;
    let ask = async |msg: &str| -> Result<String> {
        let r = system.request(&root_id, msg.as_bytes().to_vec()).await?;
        Ok(String::from_utf8_lossy(&r).into_owned())
    };
    ask("policy\u{1f}restart").await?;
    let r = ask("spawn\u{1f}http-child.toml").await?;
    let child = r.strip_prefix("ok ").context(r.clone())?.to_string();
    let addr = listen_addr(&system, &child)?;
    let mut sender = connect(addr).await?;
    let mut gaps = Vec::with_capacity(n);
    let mut unavailable = 0;
    for _ in 0..n {
        if get(&mut sender, addr, "/crash").await? != 500 {
            bail!("GET /crash did not answer 500");
        }
        let crashed = Instant::now();
        loop {
            match get(&mut sender, addr, "/").await? {
                200 => break,
                503 => unavailable += 1,
                other => bail!("GET / after a crash answered {other}"),
            }
            if crashed.elapsed() > Duration::from_secs(10) {
                bail!("not serving again 10 s after a crash");
            }
        }
        gaps.push(crashed.elapsed().as_nanos() as u64);
    }
    system.shutdown().await;
    figs.push(latency(
        "HTTP crash to serving again (500 -> 200)",
        gaps,
        Some("≤ 10 ms"),
    ));
    figs.push(scalar(
        "HTTP 503 answers while restarting, per crash",
        "",
        unavailable as f64 / n as f64,
        n,
        None,
    ));
    Ok(())
}
