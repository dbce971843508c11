//! Requests an actor answers later (Erlang's `{noreply, ...}` then `gen_server:reply/2`):
//! `handle-request` returning `none` leaves the request outstanding in the target's slot of
//! [`Messaging`]; `respond-to-request` answers it, `cancel-request` gives the requester `err`,
//! and so do the target stopping, failing or restarting and the host's request timeout
//! ([`crate::SystemConfig::request_timeout`]). An id is answered at most once: whoever takes
//! it from the table answers it. Each step is recorded in the chains of both ends.

use super::host::HostOps;
use super::messaging::{Messaging, Requester};
use super::store::{ActorCtx, record};
use crate::chain::{Chain, EventData};
use crate::error::{HostError, HostResult};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The answer a requester waits for.
pub(crate) type Reply = oneshot::Sender<Result<Vec<u8>, String>>;

/// One outstanding request.
pub(crate) struct Pending {
    pub id: String,
    pub from: Requester,
    reply: Reply,
    /// The timeout task, aborted once the request is answered otherwise.
    timer: tokio::task::AbortHandle,
}

impl Pending {
    /// `handle-request` of `ctx` returned `none`: keeps the request outstanding (within the
    /// actor's `max_outstanding_requests`) until it is answered, cancelled, its target ends or
    /// the request timeout (counted from `sent`) passes. On refusal, returns the reply and why.
    pub fn park(
        ctx: &ActorCtx,
        id: String,
        from: Requester,
        sent: Instant,
        reply: Reply,
    ) -> Result<(), (Reply, String)> {
        let timeout = ctx.system.config().request_timeout;
        let refused = |reply: Reply, why: String| {
            ctx.record(
                "request.refused",
                EventData::new()
                    .str("request_id", &id)
                    .str("from", &from.id)
                    .str("error", &why),
                format!("request {id} could not stay outstanding"),
            );
            Err((reply, why))
        };
        let mut t = ctx.system.messaging().lock();
        let Some(slot) = t.actors.get_mut(&ctx.id).filter(|s| s.limits.is_some()) else {
            drop(t);
            return refused(
                reply,
                format!(
                    "actor {} returned no response to the request and has no `message-server` handler to answer it later with respond-to-request",
                    ctx.name
                ),
            );
        };
        slot.outstanding.retain(|p| !p.reply.is_closed());
        let limit = slot.limits().max_outstanding_requests;
        if slot.outstanding.len() as u64 >= u64::from(limit) {
            drop(t);
            return refused(
                reply,
                format!(
                    "limit reached: actor {} already has max_outstanding_requests = {limit} requests outstanding; this one was not kept",
                    ctx.name
                ),
            );
        }
        let timer = spawn_timeout(
            Arc::downgrade(&ctx.system),
            ctx.id.clone(),
            ctx.chain.clone(),
            id.clone(),
            (sent + timeout).saturating_duration_since(Instant::now()),
            timeout,
        );
        slot.outstanding.push(Pending {
            id: id.clone(),
            from: from.clone(),
            reply,
            timer,
        });
        drop(t);
        ctx.record(
            "request.outstanding",
            EventData::new()
                .str("request_id", &id)
                .str("from", &from.id),
            format!("request {id} from {} left outstanding", from.id),
        );
        from.record(
            "request.outstanding",
            EventData::new().str("request_id", &id).str("to", &ctx.id),
            format!("request {id} to {} is outstanding", ctx.id),
        );
        Ok(())
    }

    /// Answers the requester with `answer` and records `event` in the chain of the target
    /// (`target`, `chain`) and the matching event in the requester's; `detail` says why (kept
    /// in both events). `Err` when the requester no longer waits.
    pub fn end(
        self,
        target: &str,
        chain: &Mutex<Chain>,
        event: &str,
        answer: Result<Vec<u8>, String>,
        detail: &str,
    ) -> Result<(), String> {
        self.timer.abort();
        let Pending {
            id, from, reply, ..
        } = self;
        let (target_event, requester_event) = match event {
            "request.respond" => ("request.respond", "request.responded"),
            "request.cancel" => ("request.cancel", "request.cancelled"),
            other => (other, other),
        };
        let data = |peer: (&str, &str)| {
            let d = EventData::new()
                .str("request_id", &id)
                .str(peer.0, peer.1)
                .str("detail", detail);
            match &answer {
                Ok(bytes) => d.summary("response", Some(bytes)),
                Err(e) => d.str("error", e),
            }
        };
        record(
            chain,
            target_event,
            data(("requester", &from.id)),
            format!("request {id}: {detail}"),
        );
        from.record(
            requester_event,
            data(("target", target)),
            format!("request {id}: {detail}"),
        );
        reply.send(answer).map_err(|_| {
            format!(
                "request {id} has no one waiting any more: its requester `{}` stopped waiting (it timed out or stopped)",
                from.id
            )
        })
    }
}

/// Ends request `id` of `target` with `err` once `after` has passed, unless it was answered.
fn spawn_timeout(
    system: Weak<dyn HostOps>,
    target: String,
    chain: Arc<Mutex<Chain>>,
    id: String,
    after: Duration,
    timeout: Duration,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let Some(system) = system.upgrade() else {
            return;
        };
        if let Some(p) = system.messaging().take(&target, &id) {
            let why = format!(
                "request {id} to actor `{target}` timed out: no answer within the host's request timeout of {timeout:?}"
            );
            let _ = p.end(&target, &chain, "request.timeout", Err(why), "timed out");
        }
    })
    .abort_handle()
}

impl Messaging {
    /// Takes outstanding request `id` of actor `target` out of the table (at most once).
    pub fn take(&self, target: &str, id: &str) -> Option<Pending> {
        let mut t = self.lock();
        let slot = t.actors.get_mut(target)?;
        let i = slot.outstanding.iter().position(|p| p.id == id)?;
        Some(slot.outstanding.remove(i))
    }
}

/// Out-of-band answers: the calling actor's outstanding requests.
impl ActorCtx {
    /// `list-outstanding-requests`: ids of the requests this actor left outstanding (its
    /// `handle-request` returned `none`) whose requesters still wait, oldest first.
    pub fn outstanding_requests(&self) -> Vec<String> {
        let mut t = self.system.messaging().lock();
        let Some(slot) = t.actors.get_mut(&self.id) else {
            return Vec::new();
        };
        slot.outstanding.retain(|p| !p.reply.is_closed());
        slot.outstanding.iter().map(|p| p.id.clone()).collect()
    }

    /// `respond-to-request`: answers outstanding request `id` with `ok(response)`.
    pub fn respond_to_request(&self, id: &str, response: Vec<u8>) -> HostResult<()> {
        let p = self.take_outstanding(id)?;
        p.end(
            &self.id,
            &self.chain,
            "request.respond",
            Ok(response),
            "answered",
        )
        .map_err(HostError::Refused)
    }

    /// `cancel-request`: ends outstanding request `id`; its requester gets `err`.
    pub fn cancel_request(&self, id: &str) -> HostResult<()> {
        let p = self.take_outstanding(id)?;
        let why = format!(
            "request {id} was cancelled by actor `{}` ({})",
            self.id, self.name
        );
        p.end(
            &self.id,
            &self.chain,
            "request.cancel",
            Err(why),
            "cancelled",
        )
        .map_err(HostError::Refused)
    }

    fn take_outstanding(&self, id: &str) -> HostResult<Pending> {
        self.system
            .messaging()
            .take(&self.id, id)
            .ok_or_else(|| HostError::UnknownRequest(id.to_string()))
    }
}
