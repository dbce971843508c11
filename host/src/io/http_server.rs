//! The `http-server` handler: an HTTP/1.1 listener (hyper) per actor that asks for one, calling
//! the actor's exported `wasi:http/incoming-handler.handle` for each request, one at a time
//! through the actor's mailbox, under its call deadline (CONTRACT §8).
//!
//! Supervision:
//! - a request whose `handle` traps, runs past the deadline, answers with an error code or
//!   returns without answering gets `500` and **fails the actor** (its parent is told);
//! - while the actor is starting, failed, restarting or stopping, the listener stays bound
//!   and every request gets `503` (so do requests still queued when it failed);
//! - `restart-child` (same id) serves again on the same socket; an actor started later
//!   (`resume`, a new `spawn`) whose manifest asks for the same address takes a failed actor's
//!   socket over; stopping the actor for good (or its parent ending while it is failed)
//!   closes it.
//!
//! Limits ([`ServerLimits`]): header size (`431`), header time (connection closed), body size
//! (`413`, checked against `content-length` first, before the actor sees anything), body time
//! (`408`), response size (`500`), open connections (closed at once). The request body is read
//! whole by the listener before the request is queued, and the response body whole before it
//! is sent, so a slow or hostile client only ever holds its own connection, never the actor.
//!
//! Chain: `http-server.listen` when the actor gets its socket, and `http-server.request`
//! (method, authority, path, status, request and response body sizes + SHA-256, error) for
//! every request the actor handled, besides the export call's own `call.*` events. Requests
//! refused before they reach the actor (503, 4xx) are only logged (tracing, debug).

use super::body::{BodyError, collect_limited, collect_or_drain};
use super::server_settings::{HttpServerSettings, ServerLimits};
use crate::chain::EventData;
use crate::engine::instance::{ActorCall, Delivery, DeliveryFuture};
use crate::engine::store::{ActorCtx, ActorStore};
use crate::handler::{
    ActorMailbox, ActorRef, ExportFn, Handler, InstanceSetup, MailboxError, SettingsTable,
};
use crate::lifecycle::{End, Failure, Lifecycle, StopReason};
use crate::manifest::Manifest;
use crate::tree::ActorId;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostResponseOutparam};

/// `wasi:http/incoming-handler.handle`, which the actor must export.
pub const INCOMING_HANDLE: ExportFn = ExportFn::new("wasi:http/incoming-handler", "handle");

/// After `handle` returned, how long the response (already written, or never) may take to
/// reach the listener.
const RESPONSE_GRACE: Duration = Duration::from_millis(100);

type HttpResponse = Response<Full<Bytes>>;

/// The `http-server` handler.
#[derive(Default)]
pub struct HttpServerHandler {
    listeners: Arc<Mutex<HashMap<ActorId, Arc<Listener>>>>,
}

impl HttpServerHandler {
    /// The http-server handler.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ActorId, Arc<Listener>>> {
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The address actor `id` is served on, while its listener is bound.
    pub fn local_addr(&self, id: &str) -> Option<SocketAddr> {
        self.lock().get(id).map(|l| l.bound)
    }
}

/// Whether the listener passes requests on, and to which actor.
enum Status {
    /// The actor's instance is being created or `init` runs.
    Starting,
    /// Requests go to this mailbox.
    Serving(ActorMailbox),
    /// Failed, restarting or stopping: `503`.
    Unavailable(&'static str),
}

struct Slot {
    owner: ActorId,
    parent: Option<ActorId>,
    status: Status,
    limits: ServerLimits,
    /// True once the owner got past `init` on this socket (a failed restart keeps it).
    served: bool,
}

/// One bound socket and what it serves.
struct Listener {
    /// The address the manifest asked for.
    configured: SocketAddr,
    /// The address bound (differs when the manifest asked for port 0).
    bound: SocketAddr,
    slot: Mutex<Slot>,
    connections: Arc<Semaphore>,
    closed: watch::Sender<bool>,
}

impl Listener {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn close(&self) {
        self.closed.send_replace(true);
    }
}

/// Per actor: its listener; when its instance goes away without having stopped cleanly, the
/// listener stops passing requests on.
pub struct HttpServerState {
    /// `None` for an actor without `listen`.
    listener: Option<Arc<Listener>>,
    listeners: Arc<Mutex<HashMap<ActorId, Arc<Listener>>>>,
}

impl Drop for HttpServerState {
    fn drop(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        let mut slot = listener.slot();
        match slot.status {
            Status::Serving(_) => slot.status = Status::Unavailable("stopped"),
            // Its instance or init failed: a restart keeps the socket for the next one (the
            // parent may try again), a first start gives it back.
            Status::Starting if slot.served => slot.status = Status::Unavailable("restart failed"),
            Status::Starting => {
                let owner = slot.owner.clone();
                drop(slot);
                let mut map = self
                    .listeners
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if map.get(&owner).is_some_and(|l| Arc::ptr_eq(l, listener)) {
                    map.remove(&owner);
                }
                listener.close();
            }
            Status::Unavailable(_) => {}
        }
    }
}

impl Handler for HttpServerHandler {
    type Settings = HttpServerSettings;
    type Grant = HttpServerSettings;
    type State = HttpServerState;

    fn name(&self) -> &str {
        "http-server"
    }

    fn exports(&self) -> &[ExportFn] {
        &[INCOMING_HANDLE]
    }

    fn settings(&self, table: &SettingsTable<'_>) -> Result<HttpServerSettings, String> {
        HttpServerSettings::parse(&|k| table.get(k))
    }

    fn grant(
        &self,
        wanted: &HttpServerSettings,
        _parent: Option<&HttpServerSettings>,
        _manifest: &Manifest,
    ) -> Result<HttpServerSettings, String> {
        // A child needs its parent to have the handler (the registry checks); the address is
        // its own.
        Ok(*wanted)
    }

    fn add_to_linker(&self, _: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        // `wasi:http/types` is linked for every actor; this handler calls an export.
        Ok(())
    }

    fn prepare(
        &self,
        grant: &Arc<HttpServerSettings>,
        actor: &ActorCtx,
        _setup: &mut InstanceSetup<'_>,
    ) -> Result<(), String> {
        let Some(listen) = grant.listen else {
            return Ok(());
        };
        let mut map = self.lock();
        let id = actor.id().to_string();
        let event = |l: &Listener, how: &str| {
            actor.record(
                "http-server.listen",
                EventData::new()
                    .str("address", &l.bound.to_string())
                    .str("configured", &l.configured.to_string())
                    .str("socket", how),
                format!("serving HTTP on {}", l.bound),
            );
        };
        if let Some(l) = map.get(&id) {
            // Restarted with the same id (or instantiated again after a full pool).
            let mut slot = l.slot();
            slot.status = Status::Starting;
            slot.limits = grant.limits;
            drop(slot);
            event(l, "kept");
            return Ok(());
        }
        if listen.port() != 0 {
            let same = map
                .iter()
                .find(|(_, l)| l.configured == listen || l.bound == listen)
                .map(|(owner, l)| (owner.clone(), l.clone()));
            if let Some((owner, l)) = same {
                let mut slot = l.slot();
                if !matches!(slot.status, Status::Unavailable(_)) {
                    return Err(format!(
                        "http-server: cannot listen on {listen}: actor {owner} serves there"
                    ));
                }
                // A failed (or stopping) actor's socket: taken over without a gap.
                slot.owner = id.clone();
                slot.status = Status::Starting;
                slot.limits = grant.limits;
                slot.served = false;
                drop(slot);
                map.remove(&owner);
                map.insert(id, l.clone());
                event(&l, &format!("taken over from {owner}"));
                return Ok(());
            }
        }
        let tcp =
            bind(listen).map_err(|e| format!("http-server: cannot listen on {listen}: {e}"))?;
        let bound = tcp.local_addr().map_err(|e| e.to_string())?;
        let listener = Arc::new(Listener {
            configured: listen,
            bound,
            slot: Mutex::new(Slot {
                owner: id.clone(),
                parent: None,
                status: Status::Starting,
                limits: grant.limits,
                served: false,
            }),
            connections: Arc::new(Semaphore::new(grant.limits.max_connections)),
            closed: watch::channel(false).0,
        });
        tokio::spawn(accept(listener.clone(), tcp));
        event(&listener, "bound");
        map.insert(id, listener);
        Ok(())
    }

    fn state(&self, grant: &Arc<HttpServerSettings>, actor: &ActorCtx) -> HttpServerState {
        // `prepare` registered the listener of an actor with `listen`.
        let listener = grant
            .listen
            .and_then(|_| self.lock().get(actor.id()).cloned());
        HttpServerState {
            listener,
            listeners: self.listeners.clone(),
        }
    }

    fn lifecycle(&self, event: &Lifecycle<'_>, actor: &ActorRef<'_>) {
        let mut map = self.lock();
        let own = map.get(actor.id()).cloned();
        match (event, own) {
            (Lifecycle::Started | Lifecycle::Restarted | Lifecycle::Resumed, Some(l)) => {
                let mut slot = l.slot();
                slot.parent = actor.parent().map(str::to_string);
                match actor.mailbox_of(actor.id()) {
                    Some(mb) => {
                        slot.status = Status::Serving(mb);
                        slot.served = true;
                    }
                    None => slot.status = Status::Unavailable("stopped"),
                }
            }
            (Lifecycle::Stopping(end), Some(l)) => {
                l.slot().status = Status::Unavailable(match end {
                    End::Failed(_) => "failed",
                    End::Stopped(StopReason::Restart) => "restarting",
                    _ => "stopping",
                });
            }
            (Lifecycle::Stopped(end), own) => {
                let for_good = !matches!(end, End::Failed(_) | End::Stopped(StopReason::Restart));
                if let Some(l) = own
                    && for_good
                {
                    l.close();
                    map.remove(actor.id());
                }
                // A failed child of an actor that ended can never be restarted by it.
                if !matches!(end, End::Stopped(StopReason::Restart)) {
                    map.retain(|_, l| {
                        let slot = l.slot();
                        let orphan = slot.parent.as_deref() == Some(actor.id())
                            && matches!(slot.status, Status::Unavailable(_));
                        drop(slot);
                        if orphan {
                            l.close();
                        }
                        !orphan
                    });
                }
            }
            _ => {}
        }
    }
}

/// Returns once the listener is closed.
async fn until_closed(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|c| *c).await;
}

/// A listening socket with `SO_REUSEADDR` (a restarted host can bind again at once).
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts connections until the listener is closed; past `max_connections` a new connection
/// is closed at once.
async fn accept(listener: Arc<Listener>, tcp: TcpListener) {
    let mut closed = listener.closed.subscribe();
    loop {
        let (stream, peer) = tokio::select! {
            () = until_closed(&mut closed) => break,
            r = tcp.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(address = %listener.bound, error = %e, "http-server: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = listener.connections.clone().try_acquire_owned() else {
            tracing::debug!(address = %listener.bound, %peer, "http-server: too many connections; closed");
            continue;
        };
        tokio::spawn(connection(listener.clone(), stream, permit));
    }
    tracing::debug!(address = %listener.bound, "http-server: listener closed");
}

/// Serves one connection (HTTP/1.1, kept alive) until it ends or the listener closes.
async fn connection(listener: Arc<Listener>, stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let limits = listener.slot().limits;
    let _ = stream.set_nodelay(true);
    let mut closed = listener.closed.subscribe();
    let served = listener.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let l = served.clone();
        async move { Ok::<_, Infallible>(handle(&l, req).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        r = conn => if let Err(e) = r {
            tracing::debug!(address = %listener.bound, error = %e, "http-server: connection ended");
        },
        () = until_closed(&mut closed) => {}
    }
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn unavailable(why: &str) -> HttpResponse {
    let mut r = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("503 service unavailable: the actor is {why}"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// One request: checked and read by the listener, then queued for the actor.
async fn handle(listener: &Listener, req: Request<Incoming>) -> HttpResponse {
    let (mailbox, limits) = {
        let slot = listener.slot();
        match &slot.status {
            Status::Serving(mb) => (mb.clone(), slot.limits),
            Status::Starting => return unavailable("starting"),
            Status::Unavailable(why) => return unavailable(why),
        }
    };
    let refuse = |status: StatusCode, text: &str| {
        tracing::debug!(address = %listener.bound, %status, "http-server: {text}");
        plain(status, text)
    };
    if req.uri().authority().is_none() && !req.headers().contains_key(header::HOST) {
        return refuse(StatusCode::BAD_REQUEST, "400 bad request: no Host header");
    }
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "413 payload too large: the body may be at most {} bytes",
                limits.max_body_bytes
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(
        limits.body_timeout,
        collect_limited(body, limits.max_body_bytes),
    )
    .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(BodyError::TooLarge { .. })) => return too_large(),
        Ok(Err(e)) => return refuse(StatusCode::BAD_REQUEST, &format!("400 bad request: {e}")),
        Err(_) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "408 request timeout: the body did not arrive within {} ms",
                    limits.body_timeout.as_millis()
                ),
            );
        }
    };
    let (reply, answer) = oneshot::channel();
    let call = Box::new(IncomingCall {
        request: Request::from_parts(parts, body),
        max_response_bytes: limits.max_response_bytes,
        reply,
    });
    match mailbox.post(call) {
        Ok(()) => {}
        Err(MailboxError::Full { .. }) => return unavailable("busy (its mailbox is full)"),
        Err(MailboxError::Closed { .. }) => return unavailable("stopping"),
    }
    answer
        .await
        .unwrap_or_else(|_| unavailable("stopped before it answered"))
}

/// A request in the actor's mailbox.
struct IncomingCall {
    request: Request<Bytes>,
    max_response_bytes: u64,
    reply: oneshot::Sender<HttpResponse>,
}

/// What the actor answered through its `response-outparam`.
enum Answer {
    /// A complete response.
    Response(http::response::Parts, Bytes),
    /// It set an error code.
    Error(ErrorCode),
    /// It never set the outparam (or dropped it).
    Nothing,
    /// The body broke off, was never finished, or was too large: not the client's to see.
    Broken(String),
}

impl Delivery for IncomingCall {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let IncomingCall {
                request,
                max_response_bytes,
                reply,
            } = *self;
            let method = request.method().to_string();
            let path = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string();
            let authority = request
                .uri()
                .authority()
                .map(|a| a.to_string())
                .or_else(|| {
                    let host = request.headers().get(header::HOST)?;
                    host.to_str().ok().map(str::to_string)
                })
                .unwrap_or_default();
            let event = EventData::new()
                .str("method", &method)
                .str("authority", &authority)
                .str("path", &path)
                .summary("request_body", Some(request.body()));
            if !actor.has_export(&INCOMING_HANDLE) {
                let _ = reply.send(plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500 internal server error: the actor does not export wasi:http/incoming-handler",
                ));
                actor.ctx().record(
                    "http-server.request",
                    event.u64("status", 500).str("error", "not exported"),
                    format!("{method} {path}: not served (no wasi:http/incoming-handler export)"),
                );
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            let resources = {
                let mut http = actor.store().http();
                let request = request.map(Full::new);
                http.new_incoming_request(Scheme::Http, request)
                    .and_then(|req| Ok((req, http.new_response_outparam(tx)?)))
            };
            let (req, out) = match resources {
                Ok(r) => r,
                Err(e) => {
                    let _ = reply.send(plain(
                        StatusCode::BAD_REQUEST,
                        &format!("400 bad request: {e}"),
                    ));
                    return Ok(());
                }
            };
            let collect = async move {
                match rx.await {
                    Ok(Ok(resp)) => {
                        let (parts, body) = resp.into_parts();
                        match collect_or_drain(body, max_response_bytes).await {
                            Ok(b) => Answer::Response(parts, b),
                            Err(e) => Answer::Broken(format!("response {e}")),
                        }
                    }
                    Ok(Err(code)) => Answer::Error(code),
                    Err(_) => Answer::Nothing,
                }
            };
            let summary = EventData::new().str("method", &method).str("path", &path);
            // The response goes out as soon as it is complete, while `handle` may still run.
            let mut reply = Some(reply);
            let (outcome, answer) = {
                let call = actor.call_func::<(
                    Resource<HostIncomingRequest>,
                    Resource<HostResponseOutparam>,
                ), ()>(INCOMING_HANDLE, (req, out), summary);
                tokio::pin!(call, collect);
                tokio::select! {
                    biased;
                    answer = &mut collect => {
                        if let Some(r) = reply.take() {
                            let _ = r.send(to_response(&answer));
                        }
                        (call.as_mut().await, answer)
                    }
                    outcome = &mut call => {
                        // After a trap nothing more will come: take what is there.
                        let grace = if outcome.is_ok() { RESPONSE_GRACE } else { Duration::ZERO };
                        let answer = tokio::time::timeout(grace, collect)
                            .await
                            .unwrap_or_else(|_| Answer::Broken("the response body was not finished".into()));
                        (outcome, answer)
                    }
                }
            };
            let failure = match (&outcome, &answer) {
                (Err(f), _) => Some(f.clone()),
                (Ok(()), Answer::Error(code)) => Some(Failure::internal(format!(
                    "wasi:http/incoming-handler.handle answered {method} {path} with an error: {code:?}"
                ))),
                (Ok(()), Answer::Nothing) => Some(Failure::internal(format!(
                    "wasi:http/incoming-handler.handle returned without answering {method} {path}"
                ))),
                _ => None,
            };
            let response = match &failure {
                Some(_) => plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500 internal server error: the actor failed",
                ),
                None => to_response(&answer),
            };
            let status = response.status().as_u16();
            let mut event = event.u64("status", u64::from(status));
            event = match &answer {
                Answer::Response(_, body) => event.summary("response_body", Some(body)),
                _ => event.summary("response_body", None),
            };
            let error = match (&failure, &answer) {
                (Some(f), _) => Some(f.message.clone()),
                (None, Answer::Broken(why)) => Some(why.clone()),
                _ => None,
            };
            if let Some(e) = &error {
                event = event.str("error", e);
            }
            if let Some(r) = reply.take() {
                let _ = r.send(response);
            }
            actor.ctx().record(
                "http-server.request",
                event,
                format!("{method} {path} -> {status}"),
            );
            failure.map_or(Ok(()), Err)
        })
    }
}

/// The HTTP response for what the actor answered (failures are decided by the caller).
fn to_response(answer: &Answer) -> HttpResponse {
    match answer {
        Answer::Response(parts, body) => {
            let mut r = Response::new(Full::new(body.clone()));
            *r.status_mut() = parts.status;
            *r.headers_mut() = parts.headers.clone();
            // hyper frames the (whole) body itself.
            r.headers_mut().remove(header::CONTENT_LENGTH);
            r.headers_mut().remove(header::TRANSFER_ENCODING);
            r
        }
        Answer::Broken(why) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("500 internal server error: {why}"),
        ),
        Answer::Error(_) | Answer::Nothing => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 internal server error: the actor failed",
        ),
    }
}
