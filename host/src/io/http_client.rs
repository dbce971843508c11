//! The `http-client` handler: `wasi:http/outgoing-handler` requests to the authorities of the
//! actor's [`AllowList`]; any other is refused with `HTTP-request-denied`. Each request is one
//! event in the actor's chain: `http-client.request` (method, authority, path, status or
//! error, request and response body sizes + SHA-256) or `http-client.denied`.
//!
//! Every actor has this handler (an actor whose manifest does not list it may reach no
//! authority), so a child listing patterns under a parent without them is refused by the
//! coverage check, naming the pattern.
//!
//! Bodies are read whole into memory, at most [`MAX_BODY_BYTES`] each way, so the event holds
//! their exact size and digest; the request goes out with wasmtime-wasi-http's
//! `default_send_request` (HTTP/1.1, TLS for `https`). Without the guest's own request
//! options, connecting may take [`CONNECT_TIMEOUT`] and the response the actor's call
//! deadline.

use super::authority::AllowList;
use super::body::{BodyError, collect_limited};
use crate::chain::{Chain, EventData};
use crate::engine::store::{ActorCtx, ActorStore, record};
use crate::handler::{Handler, InstanceSetup, SettingsTable};
use crate::manifest::Manifest;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// Largest request or response body of one outgoing request.
pub const MAX_BODY_BYTES: u64 = 16 << 20;
/// Time to connect when the guest sets no `connect-timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `http-client` handler.
#[derive(Default)]
pub struct HttpClientHandler;

impl HttpClientHandler {
    /// The http-client handler.
    pub fn new() -> Self {
        Self
    }
}

impl Handler for HttpClientHandler {
    type Settings = AllowList;
    type Grant = AllowList;
    type State = ();

    fn name(&self) -> &str {
        "http-client"
    }

    fn implicit(&self) -> bool {
        true
    }

    fn settings(&self, table: &SettingsTable<'_>) -> Result<AllowList, String> {
        let entries = table.strings("allow", "host:port patterns")?;
        AllowList::parse(&entries.unwrap_or_default())
    }

    fn grant(
        &self,
        wanted: &AllowList,
        parent: Option<&AllowList>,
        manifest: &Manifest,
    ) -> Result<AllowList, String> {
        if let Some(p) = parent {
            p.check_child(wanted, &manifest.origin())?;
        }
        Ok(wanted.clone())
    }

    fn add_to_linker(&self, _: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        // `wasi:http` is linked for every actor; this handler only decides where requests go.
        Ok(())
    }

    fn prepare(
        &self,
        grant: &Arc<AllowList>,
        actor: &ActorCtx,
        setup: &mut InstanceSetup<'_>,
    ) -> Result<(), String> {
        *setup.http_hooks = Box::new(ClientHooks {
            allow: grant.clone(),
            chain: actor.chain.clone(),
            response_timeout: actor.grants.limits.call_timeout,
        });
        Ok(())
    }

    fn state(&self, _: &Arc<AllowList>, _: &ActorCtx) {}
}

/// The `wasi:http` hooks of one actor: the allow-list check, the events, the limits.
struct ClientHooks {
    allow: Arc<AllowList>,
    chain: Arc<Mutex<Chain>>,
    response_timeout: Duration,
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, IoFuture), HttpError>;

fn full(bytes: Bytes) -> WasiBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

impl WasiHttpHooks for ClientHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let event = EventData::new()
            .str("method", request.method().as_str())
            .str("scheme", if https { "https" } else { "http" })
            .str("authority", &authority)
            .str("path", uri.path_and_query().map_or("/", |p| p.as_str()));
        if !self.allow.allows(&host, port) {
            let allowed: Vec<String> = self
                .allow
                .patterns()
                .iter()
                .map(|p| p.to_string())
                .collect();
            record(
                &self.chain,
                "http-client.denied",
                event.strs("allowed", allowed.iter().map(String::as_str)),
                format!(
                    "outgoing request to {authority} denied: not in the http-client allow-list"
                ),
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let chain = self.chain.clone();
        let response_timeout = self.response_timeout;
        Box::new(async move {
            let fail = |event: EventData, e: HttpError| {
                let msg = e.to_string();
                record(
                    &chain,
                    "http-client.request",
                    event.str("error", &msg),
                    format!("outgoing request to {authority} failed: {msg}"),
                );
                Err(e)
            };
            let (parts, body) = request.into_parts();
            let sent = match collect_limited(body, MAX_BODY_BYTES).await {
                Ok(b) => b,
                Err(BodyError::TooLarge { limit }) => {
                    return fail(event, HttpError::HttpRequestBodySize(Some(limit)));
                }
                Err(e) => return fail(event, HttpError::InternalError(Some(e.to_string()))),
            };
            let event = event.summary("request_body", Some(&sent));
            let request = http::Request::from_parts(parts, full(sent));
            let options = options.unwrap_or_default();
            let options = RequestOptions {
                connect_timeout: options.connect_timeout.or(Some(CONNECT_TIMEOUT)),
                first_byte_timeout: options.first_byte_timeout.or(Some(response_timeout)),
                between_bytes_timeout: options.between_bytes_timeout.or(Some(response_timeout)),
            };
            let (response, io) =
                match wasmtime_wasi_http::default_send_request(request, Some(options)).await {
                    Ok(r) => r,
                    Err(e) => return fail(event, e),
                };
            // The connection must keep being driven while the body is read.
            let io = tokio::spawn(io);
            let (parts, body) = response.into_parts();
            let event = event.u64("status", u64::from(parts.status.as_u16()));
            let received = match collect_limited(body, MAX_BODY_BYTES).await {
                Ok(b) => b,
                Err(BodyError::TooLarge { limit }) => {
                    io.abort();
                    return fail(event, HttpError::HttpResponseBodySize(Some(limit)));
                }
                Err(e) => {
                    io.abort();
                    tracing::debug!(why = %e, "outgoing response body broke off");
                    return fail(event, HttpError::HttpResponseIncomplete);
                }
            };
            record(
                &chain,
                "http-client.request",
                event.summary("response_body", Some(&received)),
                format!("outgoing request to {authority}: {}", parts.status),
            );
            let io: IoFuture = Box::new(async move {
                match io.await {
                    Ok(r) => r,
                    Err(e) => Err(HttpError::InternalError(Some(e.to_string()))),
                }
            });
            Ok((http::Response::from_parts(parts, full(received)), io))
        })
    }
}
