//! `theater:simple/message-server-host`, the `message-server` handler: send and request,
//! channels (`open-channel`, `send-on-channel`, `close-channel`) and out-of-band answers
//! (`list-outstanding-requests`, `respond-to-request`, `cancel-request`), per CONTRACT §7.
//!
//! Its settings bound what one actor may hold: `max_channels` (channels opening or open) and
//! `max_outstanding_requests` (requests its `handle-request` left unanswered). A child never
//! gets more than its parent. The calls into the other actor are the engine's
//! ([`crate::messaging`]); this module checks the grant and records the caller's side of each
//! step in its chain.

use crate::bindings::theater::simple::message_server_host::{self as wit, Host};
use crate::chain::EventData;
use crate::handler::{ExportFn, Handler, HandlerView, HasHandler, SettingsTable};
use crate::manifest::Manifest;
use crate::messaging::{
    HANDLE_CHANNEL_CLOSE, HANDLE_CHANNEL_MESSAGE, HANDLE_CHANNEL_OPEN, HANDLE_REQUEST, HANDLE_SEND,
    MessageLimits,
};
use crate::metrics::Op;
use crate::{ActorCtx, ActorStore, HostError, HostResult};
use std::sync::Arc;
use wasmtime::component::Linker;

/// Host-wide configuration of the [`MessageServerHandler`]: the bounds of an actor whose
/// manifest sets none (never above its parent's) and the most a root may ask for.
#[derive(Debug, Clone, Copy)]
pub struct MessageServerHostConfig {
    /// Bounds of an actor whose manifest does not set them.
    pub defaults: MessageLimits,
    /// The ceiling of a root actor's settings.
    pub ceiling: MessageLimits,
}

impl Default for MessageServerHostConfig {
    /// Defaults of [`MessageLimits::default`]; a root may ask for up to 65,536 of each.
    fn default() -> Self {
        Self {
            defaults: MessageLimits::default(),
            ceiling: MessageLimits {
                max_channels: 65_536,
                max_outstanding_requests: 65_536,
            },
        }
    }
}

/// What a manifest's `[[handler]] type = "message-server"` asks for.
#[derive(Debug, Clone, Default)]
pub struct MessageServerSettings {
    /// `max_channels`; `None`: the default (or the parent's if lower).
    pub max_channels: Option<u32>,
    /// `max_outstanding_requests`; `None`: the default (or the parent's if lower).
    pub max_outstanding_requests: Option<u32>,
}

/// The `message-server` handler: `theater:simple/message-server-host` for actors whose manifest
/// asks for it (and whose parent has it).
#[derive(Default)]
pub struct MessageServerHandler {
    config: MessageServerHostConfig,
}

impl MessageServerHandler {
    /// The message-server handler with the default bounds.
    pub fn new() -> Self {
        Self::default()
    }

    /// The message-server handler with `config`.
    pub fn with_config(config: MessageServerHostConfig) -> Self {
        Self { config }
    }
}

/// One bound of a child: at most its parent's (or the host's ceiling for a root).
fn bound(
    key: &str,
    want: Option<u32>,
    default: u32,
    parent: Option<u32>,
    ceiling: u32,
    m: &Manifest,
) -> Result<u32, String> {
    match (want, parent) {
        (Some(w), Some(p)) if w > p => Err(format!(
            "permission denied: {} asks for {key} = {w}, but its parent may only have {p}",
            m.origin()
        )),
        (Some(w), None) if w > ceiling => Err(format!(
            "permission denied: {} asks for {key} = {w}, above the host's limit of {ceiling}",
            m.origin()
        )),
        (Some(w), _) => Ok(w),
        (None, Some(p)) => Ok(p.min(default)),
        (None, None) => Ok(ceiling.min(default)),
    }
}

impl Handler for MessageServerHandler {
    type Settings = MessageServerSettings;
    type Grant = MessageLimits;
    type State = ();

    fn name(&self) -> &str {
        "message-server"
    }

    fn imports(&self) -> &[&'static str] {
        &["theater:simple/message-server-host"]
    }

    fn exports(&self) -> &[ExportFn] {
        &[
            HANDLE_SEND,
            HANDLE_REQUEST,
            HANDLE_CHANNEL_OPEN,
            HANDLE_CHANNEL_MESSAGE,
            HANDLE_CHANNEL_CLOSE,
        ]
    }

    fn settings(&self, table: &SettingsTable<'_>) -> Result<MessageServerSettings, String> {
        Ok(MessageServerSettings {
            max_channels: table.u32("max_channels")?,
            max_outstanding_requests: table.u32("max_outstanding_requests")?,
        })
    }

    fn grant(
        &self,
        wanted: &MessageServerSettings,
        parent: Option<&MessageLimits>,
        m: &Manifest,
    ) -> Result<MessageLimits, String> {
        let (d, c) = (self.config.defaults, self.config.ceiling);
        Ok(MessageLimits {
            max_channels: bound(
                "max_channels",
                wanted.max_channels,
                d.max_channels,
                parent.map(|p| p.max_channels),
                c.max_channels,
                m,
            )?,
            max_outstanding_requests: bound(
                "max_outstanding_requests",
                wanted.max_outstanding_requests,
                d.max_outstanding_requests,
                parent.map(|p| p.max_outstanding_requests),
                c.max_outstanding_requests,
                m,
            )?,
        })
    }

    fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        wit::add_to_linker::<ActorStore, HasHandler<Self>>(linker, ActorStore::view)
    }

    fn state(&self, grant: &Arc<MessageLimits>, actor: &ActorCtx) {
        actor.set_message_limits(**grant);
    }
}

fn granted(state: &Option<&mut ()>) -> HostResult<()> {
    match state {
        Some(_) => Ok(()),
        None => Err(HostError::NoHandler("message-server")),
    }
}

/// Records the outcome of a call as `<event>.err` (with the error) when it failed; the
/// guest gets the error's text.
fn outcome<T>(ctx: &ActorCtx, event: &str, data: EventData, r: HostResult<T>) -> Result<T, String> {
    r.map_err(|e| {
        let e = String::from(e);
        ctx.record(
            &format!("{event}.err"),
            data.str("error", &e),
            format!("{event} failed"),
        );
        e
    })
}

impl Host for HandlerView<'_, MessageServerHandler> {
    async fn send(
        &mut self,
        actor_id: String,
        msg: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        let ctx = &self.actor;
        ctx.record(
            "message.send",
            EventData::new()
                .str("to", &actor_id)
                .summary("message", Some(&msg)),
            format!("send to {actor_id}"),
        );
        // The WIT boundary: the guest gets the error's text.
        let r = granted(&self.state)
            .and_then(|()| ctx.host().send(&actor_id, msg))
            .map_err(String::from);
        ctx.record(
            "message.send.result",
            match &r {
                Ok(()) => EventData::new().bool("ok", true),
                Err(e) => EventData::new().str("err", e),
            },
            "send result".into(),
        );
        Ok(r)
    }

    async fn request(
        &mut self,
        actor_id: String,
        msg: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let ctx = &*self.actor;
        // One event per request, written when it completes (the request and its outcome):
        // the target's own chain shows the call in between.
        let data = EventData::new()
            .str("to", &actor_id)
            .summary("message", Some(&msg));
        let t0 = ctx.wait_start();
        let r = match granted(&self.state) {
            Ok(()) => ctx.request(&actor_id, msg).await,
            Err(e) => Err(e),
        }
        // The WIT boundary: the guest gets the error's text.
        .map_err(String::from);
        ctx.waited(Op::Request, t0);
        let data = match &r {
            Ok(b) => data.summary("ok", Some(b)),
            Err(e) => data.str("err", e),
        };
        ctx.record("message.request", data, format!("request to {actor_id}"));
        Ok(r)
    }

    async fn open_channel(
        &mut self,
        actor_id: String,
        initial_msg: Vec<u8>,
    ) -> wasmtime::Result<Result<String, String>> {
        let ctx = &*self.actor;
        let data = EventData::new().str("to", &actor_id);
        ctx.record(
            "channel.open",
            data.clone().summary("initial", Some(&initial_msg)),
            format!("open channel to {actor_id}"),
        );
        let t0 = ctx.wait_start();
        let r = match granted(&self.state) {
            Ok(()) => ctx.open_channel(&actor_id, initial_msg).await,
            Err(e) => Err(e),
        };
        ctx.waited(Op::Request, t0);
        let refused = matches!(r, Err(HostError::ChannelRefused { .. }));
        let r = match r {
            Ok(id) => {
                ctx.record(
                    "channel.accepted",
                    data.str("channel", &id),
                    format!("channel {id} to {actor_id} accepted"),
                );
                Ok(id)
            }
            Err(e) if refused => {
                let e = String::from(e);
                ctx.record(
                    "channel.refused",
                    data.str("error", &e),
                    format!("channel to {actor_id} refused"),
                );
                Err(e)
            }
            Err(e) => outcome(ctx, "channel.open", data, Err(e)),
        };
        Ok(r)
    }

    async fn send_on_channel(
        &mut self,
        channel_id: String,
        msg: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        let ctx = &*self.actor;
        let data = EventData::new().str("channel", &channel_id);
        let r = granted(&self.state).and_then(|()| ctx.send_on_channel(&channel_id, msg.clone()));
        Ok(match r {
            Ok(peer) => {
                ctx.record(
                    "channel.send",
                    data.str("to", &peer).summary("message", Some(&msg)),
                    format!("message on channel {channel_id}"),
                );
                Ok(())
            }
            Err(e) => outcome(
                ctx,
                "channel.send",
                data.summary("message", Some(&msg)),
                Err(e),
            ),
        })
    }

    async fn close_channel(&mut self, channel_id: String) -> wasmtime::Result<Result<(), String>> {
        let ctx = &*self.actor;
        let data = EventData::new().str("channel", &channel_id);
        let r = granted(&self.state).and_then(|()| ctx.close_channel(&channel_id));
        Ok(match r {
            Ok(peer) => {
                ctx.record(
                    "channel.close",
                    data.str("to", &peer),
                    format!("channel {channel_id} closed"),
                );
                Ok(())
            }
            Err(e) => outcome(ctx, "channel.close", data, Err(e)),
        })
    }

    async fn list_outstanding_requests(&mut self) -> wasmtime::Result<Vec<String>> {
        if self.state.is_none() {
            return Ok(Vec::new());
        }
        Ok(self.actor.outstanding_requests())
    }

    async fn respond_to_request(
        &mut self,
        request_id: String,
        response: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        let ctx = &*self.actor;
        let data = EventData::new()
            .str("request_id", &request_id)
            .summary("response", Some(&response));
        let r = granted(&self.state).and_then(|()| ctx.respond_to_request(&request_id, response));
        Ok(outcome(ctx, "request.respond", data, r))
    }

    async fn cancel_request(&mut self, request_id: String) -> wasmtime::Result<Result<(), String>> {
        let ctx = &*self.actor;
        let data = EventData::new().str("request_id", &request_id);
        let r = granted(&self.state).and_then(|()| ctx.cancel_request(&request_id));
        Ok(outcome(ctx, "request.cancel", data, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let text = "name = \"x\"\ncomponent = \"x.wasm\"\n";
        Manifest::parse(text, "x.toml", "/m".into(), None).expect("manifest")
    }

    fn limits(c: u32, o: u32) -> MessageLimits {
        MessageLimits {
            max_channels: c,
            max_outstanding_requests: o,
        }
    }

    #[test]
    fn a_child_never_gets_more_than_its_parent_and_defaults_are_capped_by_it() {
        let h = MessageServerHandler::new();
        let m = manifest();
        let want = |c, o| MessageServerSettings {
            max_channels: c,
            max_outstanding_requests: o,
        };
        assert_eq!(h.grant(&want(None, None), None, &m), Ok(limits(256, 256)));
        let parent = limits(10, 300);
        assert_eq!(
            h.grant(&want(None, None), Some(&parent), &m),
            Ok(limits(10, 256))
        );
        assert_eq!(
            h.grant(&want(Some(4), Some(300)), Some(&parent), &m),
            Ok(limits(4, 300))
        );
        let e = h
            .grant(&want(Some(11), None), Some(&parent), &m)
            .unwrap_err();
        assert!(
            e.contains("max_channels = 11") && e.contains("parent may only have 10"),
            "{e}"
        );
        let e = h.grant(&want(None, Some(70_000)), None, &m).unwrap_err();
        assert!(
            e.contains("max_outstanding_requests = 70000") && e.contains("host's limit"),
            "{e}"
        );
    }
}
