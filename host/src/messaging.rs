//! Messages to an actor's `theater:simple/message-server-client` exports: `handle-send` and
//! `handle-request`, queued in its mailbox. The host's own messaging primitive, used by the
//! embedding API ([`crate::ActorSystem::send`], [`crate::ActorSystem::request`]) and by the
//! `message-server` handler through [`crate::handler::HostHandle`].

use crate::actor::{ActorCall, CallPath, Delivery, DeliveryFuture, next_request_id};
use crate::chain::EventData;
use crate::handler::ExportFn;
use tokio::sync::oneshot;

/// `theater:simple/message-server-client.handle-send`.
pub const HANDLE_SEND: ExportFn =
    ExportFn::new("theater:simple/message-server-client", "handle-send");
/// `theater:simple/message-server-client.handle-request`.
pub const HANDLE_REQUEST: ExportFn =
    ExportFn::new("theater:simple/message-server-client", "handle-request");
/// The exports messages are delivered to.
pub(crate) const EXPORTS: [ExportFn; 2] = [HANDLE_SEND, HANDLE_REQUEST];

/// `handle-send(msg)`.
pub(crate) struct SendCall {
    pub msg: Vec<u8>,
}

/// A message queued for an export this instance does not have (the component file changed
/// and a restart loaded the new one): recorded and dropped; returns the reason.
fn undeliverable(actor: &ActorCall<'_>, export: &ExportFn, msg: &[u8]) -> String {
    let ctx = actor.ctx();
    let why = format!(
        "actor `{}` ({}) no longer exports theater:simple/message-server-client.{} (its component changed when it restarted); the message was dropped",
        ctx.id(),
        ctx.name(),
        export.function
    );
    tracing::warn!(id = %ctx.id(), "{why}");
    ctx.record(
        "message.undeliverable",
        EventData::new()
            .str("export", export.function)
            .summary("message", Some(msg)),
        why.clone(),
    );
    why
}

impl Delivery for SendCall {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            // Checked when queued; a restart may have loaded a changed component since.
            if !actor.has_export(&HANDLE_SEND) {
                undeliverable(&actor, &HANDLE_SEND, &self.msg);
                return Ok(());
            }
            let summary = EventData::new().summary("message", Some(&self.msg));
            actor
                .call::<(Vec<u8>,), (Option<Vec<u8>>,)>(HANDLE_SEND, (self.msg,), summary, None)
                .await
        })
    }
}

/// `handle-request(request-id, msg)`, answering `reply`.
pub(crate) struct RequestCall {
    pub msg: Vec<u8>,
    pub path: CallPath,
    pub reply: oneshot::Sender<Result<Vec<u8>, String>>,
}

impl Delivery for RequestCall {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let RequestCall { msg, path, reply } = *self;
            if !actor.has_export(&HANDLE_REQUEST) {
                let why = undeliverable(&actor, &HANDLE_REQUEST, &msg);
                let _ = reply.send(Err(why));
                return Ok(());
            }
            let request_id = next_request_id();
            let summary = EventData::new()
                .str("request_id", &request_id)
                .summary("message", Some(&msg));
            let out = actor
                .call::<(String, Vec<u8>), (Option<Vec<u8>>, (Option<Vec<u8>>,))>(
                    HANDLE_REQUEST,
                    (request_id, msg),
                    summary,
                    Some(path),
                )
                .await;
            let name = actor.ctx().name();
            let answer = match &out {
                Ok(Some(bytes)) => Ok(bytes.clone()),
                Ok(None) => Err(format!("actor {name} returned no response to the request")),
                Err(f) => Err(format!(
                    "actor {name} failed while handling the request: {}",
                    f.message
                )),
            };
            // The requester may have given up; nothing to do then.
            let _ = reply.send(answer);
            out.map(|_| ())
        })
    }
}
