//! Channels and out-of-band answers (`theater:simple/message-server-host`, CONTRACT §7), for
//! actors written with the SDK.
//!
//! ```ignore
//! use theater_supervision::prelude::*;
//! use theater_supervision::messaging::{self, Accept, Channel};
//!
//! impl Supervisor for Hub {
//!     // ...
//!     // Accept every channel; echo what arrives on it.
//!     fn on_channel_open(state: State, _ch: &str, _first: &[u8]) -> Result<(State, Accept), String> {
//!         Ok((state, Accept::yes()))
//!     }
//!     fn on_channel_message(state: State, ch: &str, msg: &[u8]) -> Result<State, String> {
//!         Channel::from_id(ch).send(msg)?;
//!         Ok(state)
//!     }
//!     // Answer `later` requests only when `release` comes.
//!     fn handle_request(state: State, _id: &str, msg: &[u8]) -> Result<(State, Option<Vec<u8>>), String> {
//!         match msg {
//!             b"later" => Ok((state, None)), // stays outstanding
//!             b"release" => {
//!                 for id in messaging::outstanding() {
//!                     messaging::respond(&id, b"released")?;
//!                 }
//!                 Ok((state, Some(b"ok".to_vec())))
//!             }
//!             _ => Ok((state, Some(b"?".to_vec()))),
//!         }
//!     }
//! }
//! ```

use crate::bindings::exports::theater::simple::message_server_client::ChannelAccept;
use crate::bindings::theater::simple::message_server_host as host;

/// What [`Supervisor::on_channel_open`](crate::Supervisor::on_channel_open) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    /// True: the channel opens.
    pub accepted: bool,
    /// A refusal's reason: the opener's `err` carries it (as UTF-8, lossy).
    pub message: Option<Vec<u8>>,
}

impl Accept {
    /// Accept the channel.
    pub fn yes() -> Self {
        Self {
            accepted: true,
            message: None,
        }
    }

    /// Refuse it, telling the opener why.
    pub fn no(why: impl Into<Vec<u8>>) -> Self {
        Self {
            accepted: false,
            message: Some(why.into()),
        }
    }

    pub(crate) fn wit(self) -> ChannelAccept {
        ChannelAccept {
            accepted: self.accepted,
            message: self.message,
        }
    }
}

/// One end of a channel: send on it or close it. Only the two ends may use its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    id: String,
}

impl Channel {
    /// Opens a channel to `actor`: its `handle-channel-open` gets `initial` and accepts or
    /// refuses (then the error carries its message).
    pub fn open(actor: &str, initial: &[u8]) -> Result<Self, String> {
        host::open_channel(actor, initial).map(|id| Self { id })
    }

    /// The channel with this id (one this actor is an end of, e.g. from
    /// [`Supervisor::on_channel_message`](crate::Supervisor::on_channel_message)).
    pub fn from_id(id: &str) -> Self {
        Self { id: id.to_string() }
    }

    /// Its id (a UUID).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sends `msg` to the other end (in order; `err` once closed or its mailbox is full).
    pub fn send(&self, msg: &[u8]) -> Result<(), String> {
        host::send_on_channel(&self.id, msg)
    }

    /// Closes it; the other end hears `handle-channel-close` once.
    pub fn close(self) -> Result<(), String> {
        host::close_channel(&self.id)
    }
}

/// Ids of the requests this actor left outstanding (its `handle_request` returned `None`)
/// whose requesters still wait, oldest first.
pub fn outstanding() -> Vec<String> {
    host::list_outstanding_requests()
}

/// Answers outstanding request `id` with `response` (at most once).
pub fn respond(id: &str, response: &[u8]) -> Result<(), String> {
    host::respond_to_request(id, response)
}

/// Ends outstanding request `id`: its requester gets an error.
pub fn cancel(id: &str) -> Result<(), String> {
    host::cancel_request(id)
}
