//! The `--events FILE` format: every actor's chain as JSON, and its verification.
//!
//! Event data is kept byte-exact: as a UTF-8 string in `data` when it is valid UTF-8 (it always
//! is for events this host writes), otherwise as hex in `data_hex`. Hashes are lowercase hex.

use crate::chain::{self, ChainEvent};
use crate::status::ActorStatus;
use serde::{Deserialize, Serialize};

/// Format tag written in every file.
pub const FORMAT: &str = "theater-supervisor-events/1";

/// A whole events file.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct EventsFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Every actor, in creation order.
    pub actors: Vec<ActorEvents>,
    /// Ended actors whose records the host had dropped from memory before the file was written
    /// (no event store and more than `retain_stopped` ended actors): they are not in the file.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_actors: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One actor's chain and metadata.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ActorEvents {
    /// Actor id.
    pub id: String,
    /// Manifest name.
    pub name: String,
    /// Parent id, if any.
    pub parent: Option<String>,
    /// Status when the file was written.
    pub status: String,
    /// Hash of the last event (hex): lets `verify` notice events cut off the end.
    pub head: Option<String>,
    /// The chain, oldest first.
    pub events: Vec<EventJson>,
}

/// One event in JSON form.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct EventJson {
    /// SHA-256 (hex).
    pub hash: String,
    /// Previous event's hash (hex).
    pub parent_hash: Option<String>,
    /// Event type.
    pub event_type: String,
    /// Data as text, when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Data as hex, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_hex: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// One-line summary.
    pub description: Option<String>,
}

impl EventsFile {
    /// Wraps actor chains.
    pub fn new(actors: Vec<ActorEvents>) -> Self {
        Self {
            format: FORMAT.to_string(),
            actors,
            dropped_actors: 0,
        }
    }

    /// Checks every actor's chain; returns one line per broken actor (empty when all verify).
    pub fn verify(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for a in &self.actors {
            let who = format!("actor {} ({})", a.name, a.id);
            let events: Result<Vec<ChainEvent>, String> = a
                .events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    e.to_event()
                        .map_err(|m| format!("{who}: event #{i} ({}): {m}", e.event_type))
                })
                .collect();
            let head = match a.head.as_deref().map(parse_hash).transpose() {
                Ok(h) => h,
                Err(m) => {
                    problems.push(format!("{who}: head: {m}"));
                    continue;
                }
            };
            match events {
                Err(m) => problems.push(m),
                Ok(events) => {
                    if let Err(e) = chain::verify(&events, head.as_ref()) {
                        problems.push(format!("{who}: {e}"));
                    }
                }
            }
        }
        problems
    }
}

impl ActorEvents {
    /// Builds the JSON form of one actor's chain.
    pub fn new(
        id: &str,
        name: &str,
        parent: Option<&str>,
        status: ActorStatus,
        events: &[ChainEvent],
    ) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_string(),
            parent: parent.map(str::to_string),
            status: serde_json::to_value(status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            head: events.last().map(|e| hex::encode(e.hash)),
            events: events.iter().map(EventJson::from_event).collect(),
        }
    }
}

impl EventJson {
    /// JSON form of an event.
    pub fn from_event(e: &ChainEvent) -> Self {
        let (data, data_hex) = match std::str::from_utf8(&e.data) {
            Ok(s) => (Some(s.to_string()), None),
            Err(_) => (None, Some(hex::encode(&e.data))),
        };
        Self {
            hash: hex::encode(e.hash),
            parent_hash: e.parent_hash.map(hex::encode),
            event_type: e.event_type.clone(),
            data,
            data_hex,
            timestamp: e.timestamp,
            description: e.description.clone(),
        }
    }

    /// Back to an event (fails on malformed hex).
    pub fn to_event(&self) -> Result<ChainEvent, String> {
        let data = match (&self.data, &self.data_hex) {
            (Some(s), None) => s.as_bytes().to_vec(),
            (None, Some(h)) => hex::decode(h).map_err(|e| format!("data_hex is not hex: {e}"))?,
            (None, None) => Vec::new(),
            (Some(_), Some(_)) => return Err("has both data and data_hex".into()),
        };
        Ok(ChainEvent {
            hash: parse_hash(&self.hash)?,
            parent_hash: self.parent_hash.as_deref().map(parse_hash).transpose()?,
            event_type: self.event_type.clone(),
            data,
            timestamp: self.timestamp,
            description: self.description.clone(),
        })
    }
}

fn parse_hash(s: &str) -> Result<[u8; 32], String> {
    let v = hex::decode(s).map_err(|e| format!("hash `{s}` is not hex: {e}"))?;
    v.try_into()
        .map_err(|v: Vec<u8>| format!("hash `{s}` has {} bytes, expected 32", v.len()))
}
