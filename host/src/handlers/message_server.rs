//! `theater:simple/message-server-host`: send and request, the `message-server` handler.
//! Channels and out-of-band request answering are not supported yet; those functions return a
//! clear error.

use crate::bindings::theater::simple::message_server_host::{self as wit, Host};
use crate::chain::EventData;
use crate::handler::{ExportFn, Handler, HandlerView, HasHandler, SettingsTable};
use crate::manifest::Manifest;
use crate::messaging::{HANDLE_REQUEST, HANDLE_SEND};
use crate::metrics::Op;
use crate::{ActorCtx, ActorStore, HostError, HostResult};
use std::sync::Arc;
use wasmtime::component::Linker;

/// The `message-server` handler: `theater:simple/message-server-host` for actors whose manifest
/// asks for it (and whose parent has it).
#[derive(Default)]
pub struct MessageServerHandler;

impl MessageServerHandler {
    /// The message-server handler.
    pub fn new() -> Self {
        Self
    }
}

impl Handler for MessageServerHandler {
    type Settings = ();
    type Grant = ();
    type State = ();

    fn name(&self) -> &str {
        "message-server"
    }

    fn imports(&self) -> &[&'static str] {
        &["theater:simple/message-server-host"]
    }

    fn exports(&self) -> &[ExportFn] {
        &[HANDLE_SEND, HANDLE_REQUEST]
    }

    fn settings(&self, table: &SettingsTable<'_>) -> Result<(), String> {
        super::no_settings(table)
    }

    fn grant(&self, _: &(), _: Option<&()>, _: &Manifest) -> Result<(), String> {
        Ok(())
    }

    fn add_to_linker(&self, linker: &mut Linker<ActorStore>) -> wasmtime::Result<()> {
        wit::add_to_linker::<ActorStore, HasHandler<Self>>(linker, ActorStore::view)
    }

    fn state(&self, _: &Arc<()>, _: &ActorCtx) {}
}

fn not_yet(ctx: &ActorCtx, function: &str) -> Result<(), String> {
    ctx.record(
        "message.unsupported",
        EventData::new().str("function", function),
        format!("{function} is not supported yet"),
    );
    Err(format!(
        "{function} is not supported yet by this host (message-server channels and out-of-band responses are planned; use send/request)"
    ))
}

fn granted(state: &Option<&mut ()>) -> HostResult<()> {
    match state {
        Some(_) => Ok(()),
        None => Err(HostError::NoHandler("message-server")),
    }
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
            Ok(()) => ctx.host().request(&actor_id, msg, ctx.call_path()).await,
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
        _actor_id: String,
        _initial_msg: Vec<u8>,
    ) -> wasmtime::Result<Result<String, String>> {
        Ok(not_yet(self.actor, "open-channel").map(|()| String::new()))
    }

    async fn send_on_channel(
        &mut self,
        _channel_id: String,
        _msg: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(not_yet(self.actor, "send-on-channel"))
    }

    async fn close_channel(&mut self, _channel_id: String) -> wasmtime::Result<Result<(), String>> {
        Ok(not_yet(self.actor, "close-channel"))
    }

    async fn list_outstanding_requests(&mut self) -> wasmtime::Result<Vec<String>> {
        // Requests are answered by the return value of handle-request, so none is ever pending.
        Ok(Vec::new())
    }

    async fn respond_to_request(
        &mut self,
        _request_id: String,
        _response: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(not_yet(self.actor, "respond-to-request"))
    }

    async fn cancel_request(
        &mut self,
        _request_id: String,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(not_yet(self.actor, "cancel-request"))
    }
}
