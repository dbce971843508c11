//! Channels between two actors (CONTRACT §7): `open-channel` asks the target's
//! `handle-channel-open` (in its mailbox order), which accepts or refuses; messages on one
//! channel reach the other end's `handle-channel-message` in the order sent (both go through
//! its FIFO mailbox and count against its capacity); `close-channel` from either end gives the
//! other `handle-channel-close` once. Only the two ends may use a channel's id (a UUID v4);
//! when an end stops, fails or restarts, [`Messaging::actor_ending`] closes its channels.

use super::host::ActorMailbox;
use super::instance::{ActorCall, Delivery, DeliveryFuture};
use super::messaging::{
    HANDLE_CHANNEL_CLOSE, HANDLE_CHANNEL_MESSAGE, HANDLE_CHANNEL_OPEN, MessageLimits, Messaging,
    Slot, undeliverable,
};
use super::store::{ActorCtx, CallPath};
use crate::chain::EventData;
use crate::error::{HostError, HostResult};
use crate::tree::ActorId;
use tokio::sync::oneshot;
use wasmtime::component::{ComponentType, Lift, Lower};

/// `theater:simple/types.channel-accept`: what `handle-channel-open` answers.
#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(record)]
pub struct ChannelAccept {
    /// True to accept the channel.
    pub accepted: bool,
    /// Why not (given to the opener as UTF-8, lossy), or anything else.
    pub message: Option<Vec<u8>>,
}

/// One channel: its two ends (opener first) and their mailboxes.
pub(crate) struct Channel {
    pub ends: [ActorId; 2],
    mailboxes: [ActorMailbox; 2],
    /// Whether each end exports `handle-channel-message` (the target always does).
    receives: [bool; 2],
    /// Accepted by the target's `handle-channel-open`.
    pub open: bool,
}

impl Channel {
    /// The index of the end that is not `me`.
    pub fn peer_index(&self, me: &str) -> usize {
        usize::from(self.ends[0] == me)
    }

    /// Queues `handle-channel-close` at end `peer` (never refused while it runs).
    pub fn notify_close(&self, id: &str, peer: usize, by: &str, reason: &str) {
        let call = CloseCall {
            id: id.to_string(),
            by: by.to_string(),
            reason: reason.to_string(),
        };
        if !self.mailboxes[peer].notify(Box::new(call)) {
            tracing::debug!(channel = %id, peer = %self.ends[peer], "channel close not delivered: the other end is gone too");
        }
    }
}

fn limit_check(slot: Option<&Slot>, who: &str) -> HostResult<()> {
    let (n, limit) = match slot {
        Some(s) => (s.channels.len(), s.limits().max_channels),
        None => (0, MessageLimits::default().max_channels),
    };
    if n as u64 >= u64::from(limit) {
        return Err(HostError::LimitReached(format!(
            "{who} already has max_channels = {limit} channels (opening or open)"
        )));
    }
    Ok(())
}

/// Channel `id` if `me` is one of its ends and it is open.
fn open_end<'a>(
    channels: &'a std::collections::HashMap<String, Channel>,
    id: &str,
    me: &str,
) -> HostResult<&'a Channel> {
    let ch = channels
        .get(id)
        .filter(|c| c.ends.iter().any(|e| e == me))
        .ok_or_else(|| HostError::UnknownChannel(id.to_string()))?;
    if !ch.open {
        return Err(HostError::ChannelNotOpen(id.to_string()));
    }
    Ok(ch)
}

impl Messaging {
    /// Reserves a new channel from `from` to `to` (not yet open), within both ends' bounds.
    fn reserve(
        &self,
        from: (&str, ActorMailbox, bool),
        to: (&str, ActorMailbox),
    ) -> HostResult<String> {
        let mut t = self.lock();
        limit_check(t.actors.get(from.0), "this actor")?;
        limit_check(t.actors.get(to.0), &format!("actor `{}`", to.0))?;
        let id = uuid::Uuid::new_v4().to_string();
        t.channels.insert(
            id.clone(),
            Channel {
                ends: [from.0.to_string(), to.0.to_string()],
                mailboxes: [from.1, to.1],
                receives: [from.2, true],
                open: false,
            },
        );
        for end in [from.0, to.0] {
            t.actors
                .entry(end.to_string())
                .or_default()
                .channels
                .push(id.clone());
        }
        Ok(id)
    }

    /// Removes channel `id` from the tables; returns it.
    fn remove(&self, id: &str) -> Option<Channel> {
        let mut t = self.lock();
        let ch = t.channels.remove(id)?;
        for end in &ch.ends {
            let empty = t.actors.get_mut(end).is_some_and(|s| {
                s.channels.retain(|c| c != id);
                s.channels.is_empty() && s.outstanding.is_empty() && s.limits.is_none()
            });
            if empty {
                t.actors.remove(end);
            }
        }
        Some(ch)
    }

    /// The target accepted: true unless the channel is gone (its opener ended meanwhile).
    fn accept(&self, id: &str) -> bool {
        match self.lock().channels.get_mut(id) {
            Some(ch) => {
                ch.open = true;
                true
            }
            None => false,
        }
    }

    fn reserved(&self, id: &str) -> bool {
        self.lock().channels.contains_key(id)
    }

    /// Checks that `me` is an end of open channel `id`.
    fn check_end(&self, id: &str, me: &str) -> HostResult<()> {
        let t = self.lock();
        open_end(&t.channels, id, me).map(|_| ())
    }

    /// The other end of open channel `id` as seen by `me`: its id and mailbox.
    fn peer(&self, id: &str, me: &str) -> HostResult<(ActorId, ActorMailbox)> {
        let t = self.lock();
        let ch = open_end(&t.channels, id, me)?;
        let p = ch.peer_index(me);
        if !ch.receives[p] {
            return Err(HostError::NotAccepting {
                actor: ch.ends[p].clone(),
                name: "the other end".into(),
                function: HANDLE_CHANNEL_MESSAGE.function,
            });
        }
        Ok((ch.ends[p].clone(), ch.mailboxes[p].clone()))
    }
}

/// Channels of the calling actor.
impl ActorCtx {
    /// `open-channel`: asks `to`'s `handle-channel-open` with `initial`; returns the new
    /// channel's id once it accepted, or `err` with its refusal.
    pub async fn open_channel(&self, to: &str, initial: Vec<u8>) -> HostResult<String> {
        let sys = &self.system;
        if to == self.id {
            return Err("open-channel refused: an actor cannot open a channel to itself".into());
        }
        // The opener waits on `to` until it answers: refused if `to` already waits on it,
        // through the call path or through queued or outstanding requests (or opens).
        let _waiting = sys
            .messaging()
            .waits
            .enter(Some(&self.id), to, &self.call_path)
            .map_err(|cycle| {
                HostError::from(format!(
                    "open-channel refused: actor `{to}` is waiting on this call ({} -> {to}), so the open would deadlock",
                    cycle.join(" -> ")
                ))
            })?;
        let target = sys.entry(to)?;
        if !target.exports(&HANDLE_CHANNEL_OPEN) {
            return Err(HostError::NotAccepting {
                actor: to.to_string(),
                name: target.name().to_string(),
                function: HANDLE_CHANNEL_OPEN.function,
            });
        }
        let Some(target_mb) = target.mailbox().cloned() else {
            return Err(HostError::NotReceiving {
                actor: to.to_string(),
                name: target.name().to_string(),
                status: target.status(),
            });
        };
        let me = sys.entry(&self.id)?;
        let my_mb = me
            .mailbox()
            .cloned()
            .ok_or_else(|| HostError::Refused("open-channel: this actor is stopping".into()))?;
        let receives = me.exports(&HANDLE_CHANNEL_MESSAGE);
        let messaging = sys.messaging();
        let id = messaging.reserve((&self.id, my_mb, receives), (to, target_mb.clone()))?;
        let (reply, answer) = oneshot::channel();
        let call = OpenCall {
            id: id.clone(),
            from: self.id.clone(),
            initial,
            path: self.call_path.clone(),
            reply,
        };
        if let Err(e) = target_mb.post(Box::new(call)) {
            messaging.remove(&id);
            return Err(e.into());
        }
        let timeout = sys.config().request_timeout;
        let refused = |message: String| HostError::ChannelRefused {
            to: to.to_string(),
            message,
        };
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(Ok(()))) => Ok(id),
            Ok(Ok(Err(message))) => Err(refused(message)),
            Ok(Err(_)) => {
                messaging.remove(&id);
                Err(refused(format!(
                    "actor `{to}` stopped before answering the open"
                )))
            }
            Err(_) => {
                messaging.remove(&id);
                Err(refused(format!(
                    "no answer within the host's request timeout of {timeout:?}"
                )))
            }
        }
    }

    /// `send-on-channel`: queues `msg` for the other end's `handle-channel-message` (bounded
    /// by its mailbox capacity); returns the other end's id.
    pub fn send_on_channel(&self, id: &str, msg: Vec<u8>) -> HostResult<ActorId> {
        let (peer, mailbox) = self.system.messaging().peer(id, &self.id)?;
        let call = MessageCall {
            id: id.to_string(),
            from: self.id.clone(),
            msg,
        };
        mailbox.post(Box::new(call))?;
        Ok(peer)
    }

    /// `close-channel`: closes channel `id`; the other end gets `handle-channel-close` once.
    /// Returns the other end's id.
    pub fn close_channel(&self, id: &str) -> HostResult<ActorId> {
        let messaging = self.system.messaging();
        messaging.check_end(id, &self.id)?;
        let ch = messaging
            .remove(id)
            .ok_or_else(|| HostError::UnknownChannel(id.to_string()))?;
        let p = ch.peer_index(&self.id);
        ch.notify_close(id, p, &self.id, "closed by the other end");
        Ok(ch.ends[p].clone())
    }
}

/// `handle-channel-open(channel-id, initial)`, answering the opener.
struct OpenCall {
    id: String,
    from: ActorId,
    initial: Vec<u8>,
    path: CallPath,
    reply: oneshot::Sender<Result<(), String>>,
}

impl Delivery for OpenCall {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let OpenCall {
                id,
                from,
                initial,
                path,
                reply,
            } = *self;
            let system = actor.ctx().system.clone();
            let messaging = system.messaging();
            if !actor.has_export(&HANDLE_CHANNEL_OPEN) {
                messaging.remove(&id);
                let _ = reply.send(Err(undeliverable(&actor, &HANDLE_CHANNEL_OPEN, &initial)));
                return Ok(());
            }
            if !messaging.reserved(&id) {
                actor.ctx().record(
                    "channel.open.dropped",
                    EventData::new().str("channel", &id).str("from", &from),
                    format!("channel {id} dropped: its opener ended before it was delivered"),
                );
                return Ok(());
            }
            let summary = EventData::new()
                .str("channel", &id)
                .str("from", &from)
                .summary("initial", Some(&initial));
            let out = actor
                .call::<(String, Vec<u8>), (Option<Vec<u8>>, (ChannelAccept,))>(
                    HANDLE_CHANNEL_OPEN,
                    (id.clone(), initial),
                    summary,
                    Some(path),
                )
                .await;
            let ctx = actor.ctx();
            match out {
                Ok(accept) if accept.accepted => {
                    if messaging.accept(&id) {
                        ctx.record(
                            "channel.accept",
                            EventData::new().str("channel", &id).str("from", &from),
                            format!("channel {id} from {from} accepted"),
                        );
                        let _ = reply.send(Ok(()));
                    } else {
                        // Its opener ended while the open was handled: it closes at once.
                        ctx.record(
                            "channel.accept",
                            EventData::new().str("channel", &id).str("from", &from),
                            format!("channel {id} from {from} accepted after its opener ended"),
                        );
                        if let Some(mb) = ctx.mailbox() {
                            mb.notify(Box::new(CloseCall {
                                id,
                                by: from,
                                reason: "the other end ended while the channel opened".into(),
                            }));
                        }
                    }
                    Ok(())
                }
                Ok(accept) => {
                    messaging.remove(&id);
                    let message = match &accept.message {
                        Some(m) => String::from_utf8_lossy(m).into_owned(),
                        None => format!("actor `{}` ({}) refused the channel", ctx.id, ctx.name),
                    };
                    ctx.record(
                        "channel.refuse",
                        EventData::new()
                            .str("channel", &id)
                            .str("from", &from)
                            .str("message", &message),
                        format!("channel {id} from {from} refused"),
                    );
                    let _ = reply.send(Err(message));
                    Ok(())
                }
                Err(f) => {
                    messaging.remove(&id);
                    let _ = reply.send(Err(format!(
                        "actor {} failed while handling the channel open: {}",
                        ctx.name, f.message
                    )));
                    Err(f)
                }
            }
        })
    }
}

/// `handle-channel-message(channel-id, msg)`.
struct MessageCall {
    id: String,
    from: ActorId,
    msg: Vec<u8>,
}

impl Delivery for MessageCall {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let MessageCall { id, from, msg } = *self;
            actor.ctx().record(
                "channel.message",
                EventData::new()
                    .str("channel", &id)
                    .str("from", &from)
                    .summary("message", Some(&msg)),
                format!("message on channel {id}"),
            );
            if !actor.has_export(&HANDLE_CHANNEL_MESSAGE) {
                undeliverable(&actor, &HANDLE_CHANNEL_MESSAGE, &msg);
                return Ok(());
            }
            let summary = EventData::new().str("channel", &id);
            actor
                .call::<(String, Vec<u8>), (Option<Vec<u8>>,)>(
                    HANDLE_CHANNEL_MESSAGE,
                    (id, msg),
                    summary,
                    None,
                )
                .await
        })
    }
}

/// `handle-channel-close(channel-id)`.
struct CloseCall {
    id: String,
    by: ActorId,
    reason: String,
}

impl Delivery for CloseCall {
    fn deliver<'a>(self: Box<Self>, mut actor: ActorCall<'a>) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let CloseCall { id, by, reason } = *self;
            actor.ctx().record(
                "channel.closed",
                EventData::new()
                    .str("channel", &id)
                    .str("peer", &by)
                    .str("reason", &reason),
                format!("channel {id} closed: {reason}"),
            );
            if !actor.has_export(&HANDLE_CHANNEL_CLOSE) {
                return Ok(());
            }
            let summary = EventData::new().str("channel", &id);
            actor
                .call::<(String,), (Option<Vec<u8>>,)>(HANDLE_CHANNEL_CLOSE, (id,), summary, None)
                .await
        })
    }
}
