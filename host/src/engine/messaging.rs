//! Messages to an actor's `theater:simple/message-server-client` exports: `handle-send` and
//! `handle-request`, queued in its mailbox. The host's own messaging primitive, used by the
//! embedding API ([`crate::ActorSystem::send`], [`crate::ActorSystem::request`]) and by the
//! `message-server` handler through [`crate::handler::HostHandle`] and [`ActorCtx`].
//!
//! [`Messaging`] holds what outlives one call: the channels between actors
//! ([`super::channels`]) and the requests an actor answers later ([`super::outstanding`]), with
//! the bounds of each actor. When an actor stops, fails or restarts, [`Messaging::actor_ending`]
//! closes its channels (the other ends are told once) and ends its outstanding requests.

use super::channels::Channel;
use super::components::ExportFn;
use super::instance::{ActorCall, Delivery, DeliveryFuture};
use super::outstanding::Pending;
use super::store::{ActorCtx, CallPath, record};
use crate::chain::{Chain, EventData};
use crate::tree::ActorId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::oneshot;

const CLIENT: &str = "theater:simple/message-server-client";
/// `theater:simple/message-server-client.handle-send`.
pub const HANDLE_SEND: ExportFn = ExportFn::new(CLIENT, "handle-send");
/// `theater:simple/message-server-client.handle-request`.
pub const HANDLE_REQUEST: ExportFn = ExportFn::new(CLIENT, "handle-request");
/// `theater:simple/message-server-client.handle-channel-open`.
pub const HANDLE_CHANNEL_OPEN: ExportFn = ExportFn::new(CLIENT, "handle-channel-open");
/// `theater:simple/message-server-client.handle-channel-message`.
pub const HANDLE_CHANNEL_MESSAGE: ExportFn = ExportFn::new(CLIENT, "handle-channel-message");
/// `theater:simple/message-server-client.handle-channel-close`.
pub const HANDLE_CHANNEL_CLOSE: ExportFn = ExportFn::new(CLIENT, "handle-channel-close");
/// The exports messages are delivered to.
pub(crate) const EXPORTS: [ExportFn; 5] = [
    HANDLE_SEND,
    HANDLE_REQUEST,
    HANDLE_CHANNEL_OPEN,
    HANDLE_CHANNEL_MESSAGE,
    HANDLE_CHANNEL_CLOSE,
];

/// How many channels and outstanding requests one actor may have (the `message-server`
/// handler's grant; an actor without that handler only receives and gets the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    /// Channels (opening or open) the actor may be an end of.
    pub max_channels: u32,
    /// Requests it may leave outstanding (`handle-request` returned `none`) at once.
    pub max_outstanding_requests: u32,
}

impl Default for MessageLimits {
    /// 256 channels, 256 outstanding requests.
    fn default() -> Self {
        Self {
            max_channels: 256,
            max_outstanding_requests: 256,
        }
    }
}

/// Who is waiting on a request: an actor (its id and chain) or the host's embedding API.
#[derive(Clone)]
pub(crate) struct Requester {
    pub id: String,
    pub chain: Option<Arc<Mutex<Chain>>>,
}

impl Requester {
    /// The embedding API ([`crate::ActorSystem::request`]).
    pub fn host() -> Self {
        Self {
            id: "host".to_string(),
            chain: None,
        }
    }

    /// Records an event in the requester's chain (nothing for the host).
    pub fn record(&self, event_type: &str, data: EventData, description: String) {
        if let Some(chain) = &self.chain {
            record(chain, event_type, data, description);
        }
    }
}

/// One actor's side of the messaging tables.
#[derive(Default)]
pub(crate) struct Slot {
    /// Its bounds; `Some` once it was instantiated with the `message-server` handler.
    pub limits: Option<MessageLimits>,
    /// Channels it is an end of (opening or open), oldest first: they close in that order.
    pub channels: Vec<String>,
    /// Requests it left outstanding, oldest first.
    pub outstanding: Vec<Pending>,
}

impl Slot {
    pub fn limits(&self) -> MessageLimits {
        self.limits.unwrap_or_default()
    }
}

/// The tables behind [`Messaging`].
#[derive(Default)]
pub(crate) struct Tables {
    pub channels: HashMap<String, Channel>,
    pub actors: HashMap<ActorId, Slot>,
}

/// Channels and outstanding requests of every actor of one host.
#[derive(Default)]
pub(crate) struct Messaging {
    tables: Mutex<Tables>,
    /// Which actor waits on which (in `request` or `open-channel`), for deadlock refusal
    /// beyond the call path.
    pub waits: super::waits::WaitsFor,
}

impl Messaging {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets an actor's bounds (when it is instantiated with the `message-server` handler).
    pub fn register(&self, id: &str, limits: MessageLimits) {
        self.lock().actors.entry(id.to_string()).or_default().limits = Some(limits);
    }

    /// `id` stops, fails (`how`: `stopped`, `failed`, `restarted`) or restarts: its channels
    /// close (each other end is told once) and its outstanding requests end with `err`.
    /// Recorded in the chains of both ends. Called once its last call has returned.
    pub fn actor_ending(&self, id: &str, name: &str, chain: &Mutex<Chain>, how: &str) {
        let (channels, pending) = {
            let mut t = self.lock();
            let Some(slot) = t.actors.remove(id) else {
                return;
            };
            let mut closed = Vec::new();
            for cid in slot.channels {
                if let Some(ch) = t.channels.remove(&cid) {
                    let peer = ch.peer_index(id);
                    if let Some(p) = t.actors.get_mut(&ch.ends[peer]) {
                        p.channels.retain(|c| *c != cid);
                    }
                    closed.push((cid, ch, peer));
                }
            }
            (closed, slot.outstanding)
        };
        for (cid, ch, peer) in channels {
            record(
                chain,
                "channel.closed",
                EventData::new()
                    .str("channel", &cid)
                    .str("peer", &ch.ends[peer])
                    .str("reason", &format!("this actor {how}")),
                format!("channel {cid} closed: this actor {how}"),
            );
            if ch.open {
                ch.notify_close(&cid, peer, id, &format!("the other end {how}"));
            }
        }
        for p in pending {
            let why = format!(
                "actor `{id}` ({name}) {how} before answering request {}",
                p.id
            );
            let _ = p.end(id, chain, "request.ended", Err(why), how);
        }
    }
}

/// `handle-send(msg)`.
pub(crate) struct SendCall {
    pub msg: Vec<u8>,
}

/// A message queued for an export this instance does not have (the component file changed
/// and a restart loaded the new one): recorded and dropped; returns the reason.
pub(crate) fn undeliverable(actor: &ActorCall<'_>, export: &ExportFn, msg: &[u8]) -> String {
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

/// `handle-request(request-id, msg)`, answering `reply` (now, or later when the actor leaves
/// it outstanding).
pub(crate) struct RequestCall {
    pub id: String,
    pub msg: Vec<u8>,
    pub path: CallPath,
    pub from: Requester,
    /// When the request was made (its timeout counts from then).
    pub sent: Instant,
    pub reply: oneshot::Sender<Result<Vec<u8>, String>>,
}

impl Delivery for RequestCall {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let RequestCall {
                id,
                msg,
                path,
                from,
                sent,
                reply,
            } = *self;
            if !actor.has_export(&HANDLE_REQUEST) {
                let why = undeliverable(&actor, &HANDLE_REQUEST, &msg);
                let _ = reply.send(Err(why));
                return Ok(());
            }
            if reply.is_closed() {
                // The requester gave up (timed out or stopped) while this waited in the mailbox.
                actor.ctx().record(
                    "request.expired",
                    EventData::new()
                        .str("request_id", &id)
                        .str("from", &from.id),
                    format!("request {id} dropped: its requester no longer waits"),
                );
                return Ok(());
            }
            let summary = EventData::new()
                .str("request_id", &id)
                .summary("message", Some(&msg));
            let out = actor
                .call::<(String, Vec<u8>), (Option<Vec<u8>>, (Option<Vec<u8>>,))>(
                    HANDLE_REQUEST,
                    (id.clone(), msg),
                    summary,
                    Some(path),
                )
                .await;
            let ctx = actor.ctx();
            let answer = match &out {
                Ok(Some(bytes)) => Ok(bytes.clone()),
                Ok(None) => match Pending::park(ctx, id, from, sent, reply) {
                    Ok(()) => return Ok(()),
                    Err((reply, why)) => {
                        let _ = reply.send(Err(why));
                        return Ok(());
                    }
                },
                Err(f) => Err(format!(
                    "actor {} failed while handling the request: {}",
                    ctx.name(),
                    f.message
                )),
            };
            // The requester may have given up; nothing to do then.
            let _ = reply.send(answer);
            out.map(|_| ())
        })
    }
}

/// The calling actor's own requester identity (its id and chain).
pub(crate) fn requester_of(ctx: &ActorCtx) -> Requester {
    Requester {
        id: ctx.id.clone(),
        chain: Some(ctx.chain.clone()),
    }
}
