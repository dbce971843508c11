//! The hash-linked event chain every actor keeps (CONTRACT §5).
//!
//! Each event's hash is SHA-256 over a canonical encoding of
//! `(parent-hash, event-type, data, timestamp, description)`, see [`event_hash`] and
//! `docs/event-chain.md`. Anyone holding a chain can check it with [`verify`].

use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// Domain separator that starts every encoded event, so a chain hash can never be confused with
/// a hash of anything else.
const DOMAIN: &[u8] = b"theater-supervisor/chain-event/v1\0";

/// One event of an actor's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainEvent {
    /// SHA-256 of the canonical encoding of the other fields.
    pub hash: [u8; 32],
    /// Hash of the previous event; `None` only for the first event.
    pub parent_hash: Option<[u8; 32]>,
    /// Dotted event type, for example `supervisor.spawn` (see `docs/event-chain.md`).
    pub event_type: String,
    /// Self-describing payload: a UTF-8 JSON object.
    pub data: Vec<u8>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// A one-line summary for people.
    pub description: Option<String>,
}

impl ChainEvent {
    /// The 64-bit short hash used by `runtime.get-chain` (first 8 bytes of the SHA-256, big endian).
    pub fn short_hash(&self) -> u64 {
        short_hash(&self.hash)
    }
}

/// First 8 bytes of a SHA-256 as a big-endian `u64`.
pub fn short_hash(hash: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(b)
}

/// Computes an event's hash from its fields using the canonical encoding:
///
/// ```text
/// DOMAIN
/// u8 1 + 32-byte parent hash, or u8 0
/// u32 BE length + event-type bytes
/// u64 BE length + data bytes
/// u64 BE timestamp
/// u8 1 + u32 BE length + description bytes, or u8 0
/// ```
pub fn event_hash(
    parent_hash: Option<&[u8; 32]>,
    event_type: &str,
    data: &[u8],
    timestamp: u64,
    description: Option<&str>,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    match parent_hash {
        Some(p) => {
            h.update([1u8]);
            h.update(p);
        }
        None => h.update([0u8]),
    }
    h.update((event_type.len() as u32).to_be_bytes());
    h.update(event_type.as_bytes());
    h.update((data.len() as u64).to_be_bytes());
    h.update(data);
    h.update(timestamp.to_be_bytes());
    match description {
        Some(d) => {
            h.update([1u8]);
            h.update((d.len() as u32).to_be_bytes());
            h.update(d.as_bytes());
        }
        None => h.update([0u8]),
    }
    h.finalize().into()
}

/// Receives every event appended to a [`Chain`] (a durable store writes it down).
pub trait ChainSink: Send + Sync {
    /// `index` is the event's 0-based position in the whole chain.
    fn appended(&self, index: u64, event: &ChainEvent);
}

/// An append-only, hash-linked list of events.
///
/// With a sink and a memory window, only the newest events stay in memory (between `window` and
/// `2 × window` of them); the older ones are in the sink's store. [`Chain::dropped`] says how
/// many are no longer in memory.
#[derive(Clone, Default)]
pub struct Chain {
    events: Vec<ChainEvent>,
    dropped: u64,
    head: Option<[u8; 32]>,
    sink: Option<std::sync::Arc<dyn ChainSink>>,
    window: usize,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("len", &self.len())
            .field("dropped", &self.dropped)
            .field("sink", &self.sink.is_some())
            .finish()
    }
}

impl Chain {
    /// An empty chain whose events also go to `sink`; `window` > 0 bounds the events kept in
    /// memory (0 keeps all).
    pub fn with_sink(sink: std::sync::Arc<dyn ChainSink>, window: usize) -> Self {
        Self {
            sink: Some(sink),
            window,
            ..Self::default()
        }
    }

    /// A chain continuing a stored one: `tail` are its newest events (possibly all of them) and
    /// `len` the number of events stored in total.
    pub fn restore(
        tail: Vec<ChainEvent>,
        len: u64,
        sink: Option<std::sync::Arc<dyn ChainSink>>,
        window: usize,
    ) -> Self {
        Self {
            head: tail.last().map(|e| e.hash),
            dropped: len - tail.len() as u64,
            events: tail,
            sink,
            window,
        }
    }

    /// Appends an event, linking it to the current head, and returns it.
    pub fn append(
        &mut self,
        event_type: &str,
        data: Vec<u8>,
        description: Option<String>,
    ) -> &ChainEvent {
        let parent_hash = self.head;
        let timestamp = now_millis();
        let hash = event_hash(
            parent_hash.as_ref(),
            event_type,
            &data,
            timestamp,
            description.as_deref(),
        );
        if self.window > 0 && self.events.len() >= 2 * self.window {
            let n = self.events.len() - self.window;
            self.events.drain(..n);
            self.dropped += n as u64;
        }
        self.events.push(ChainEvent {
            hash,
            parent_hash,
            event_type: event_type.to_string(),
            data,
            timestamp,
            description,
        });
        self.head = Some(hash);
        let event = self.events.last().expect("just pushed");
        if let Some(sink) = &self.sink {
            sink.appended(self.dropped + self.events.len() as u64 - 1, event);
        }
        event
    }

    /// The events in memory, oldest first: all of them unless [`Chain::dropped`] is above 0.
    pub fn events(&self) -> &[ChainEvent] {
        &self.events
    }

    /// How many of the oldest events are no longer in memory (only with a sink and a window).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Number of events in the whole chain.
    pub fn len(&self) -> usize {
        self.dropped as usize + self.events.len()
    }

    /// True when nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hash of the newest event.
    pub fn head(&self) -> Option<[u8; 32]> {
        self.head
    }
}

/// What is wrong with a chain, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The stored hash does not match the event's fields: the event was changed.
    #[error(
        "event #{index} ({event_type}): stored hash does not match its contents (the event was altered)"
    )]
    HashMismatch {
        /// Position in the chain, from 0.
        index: usize,
        /// The event's type as stored.
        event_type: String,
    },
    /// The parent hash does not point at the previous event: an event was removed, inserted or
    /// reordered.
    #[error(
        "event #{index} ({event_type}): parent hash does not match the previous event (an event was removed, inserted or reordered)"
    )]
    BrokenLink {
        /// Position in the chain, from 0.
        index: usize,
        /// The event's type as stored.
        event_type: String,
    },
    /// The chain does not end at the expected head: events were cut off the end.
    #[error(
        "chain ends at event #{last} but the recorded head is a different event (events were cut off the end)"
    )]
    HeadMismatch {
        /// Index of the last event present.
        last: isize,
    },
}

/// Checks every hash and every link of a chain, oldest first. With `head`, also checks that the
/// chain ends at that hash (detects events cut off the end).
pub fn verify(events: &[ChainEvent], head: Option<&[u8; 32]>) -> Result<(), ChainError> {
    let mut prev: Option<[u8; 32]> = None;
    for (index, e) in events.iter().enumerate() {
        if e.parent_hash != prev {
            return Err(ChainError::BrokenLink {
                index,
                event_type: e.event_type.clone(),
            });
        }
        let expect = event_hash(
            e.parent_hash.as_ref(),
            &e.event_type,
            &e.data,
            e.timestamp,
            e.description.as_deref(),
        );
        if expect != e.hash {
            return Err(ChainError::HashMismatch {
                index,
                event_type: e.event_type.clone(),
            });
        }
        prev = Some(e.hash);
    }
    if let Some(head) = head
        && prev.as_ref() != Some(head)
    {
        return Err(ChainError::HeadMismatch {
            last: events.len() as isize - 1,
        });
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Builds an event's data: a JSON object written straight into bytes, with no intermediate
/// value tree (event recording is on the hot path of every operation).
///
/// ```
/// use theater_core::chain::EventData;
/// let d = EventData::new().str("child", "a\"b").u64("n", 3).summary("state", None).finish();
/// assert_eq!(d, br#"{"child":"a\"b","n":3,"state":null}"#);
/// ```
#[derive(Debug, Clone)]
pub struct EventData {
    buf: Vec<u8>,
}

impl Default for EventData {
    fn default() -> Self {
        Self::new()
    }
}

impl EventData {
    /// An empty object.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.push(b'{');
        Self { buf }
    }

    fn key(&mut self, k: &str) {
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        push_json_str(&mut self.buf, k);
        self.buf.push(b':');
    }

    /// A string field.
    pub fn str(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        push_json_str(&mut self.buf, v);
        self
    }

    /// A string field that may be `null`.
    pub fn opt_str(mut self, k: &str, v: Option<&str>) -> Self {
        self.key(k);
        match v {
            Some(v) => push_json_str(&mut self.buf, v),
            None => self.buf.extend_from_slice(b"null"),
        }
        self
    }

    /// An integer field.
    pub fn u64(mut self, k: &str, v: u64) -> Self {
        self.key(k);
        self.buf.extend_from_slice(v.to_string().as_bytes());
        self
    }

    /// A boolean field.
    pub fn bool(mut self, k: &str, v: bool) -> Self {
        self.key(k);
        self.buf
            .extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// An array of strings.
    pub fn strs<'a>(mut self, k: &str, vals: impl IntoIterator<Item = &'a str>) -> Self {
        self.key(k);
        self.buf.push(b'[');
        for (i, v) in vals.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            push_json_str(&mut self.buf, v);
        }
        self.buf.push(b']');
        self
    }

    /// A payload summary: `{"size":N,"sha256":"hex"}`, or `null` for `None`. Payloads (states,
    /// messages) are never copied into the chain.
    pub fn summary(mut self, k: &str, bytes: Option<&[u8]>) -> Self {
        self.key(k);
        match bytes {
            None => self.buf.extend_from_slice(b"null"),
            Some(b) => {
                self.buf.extend_from_slice(b"{\"size\":");
                self.buf.extend_from_slice(b.len().to_string().as_bytes());
                self.buf.extend_from_slice(b",\"sha256\":\"");
                let digest = Sha256::digest(b);
                let mut hex_buf = [0u8; 64];
                hex::encode_to_slice(digest, &mut hex_buf).expect("64 hex digits");
                self.buf.extend_from_slice(&hex_buf);
                self.buf.extend_from_slice(b"\"}");
            }
        }
        self
    }

    /// A field whose value is already JSON (an object built with another `EventData`).
    pub fn raw(mut self, k: &str, json: &[u8]) -> Self {
        self.key(k);
        self.buf.extend_from_slice(json);
        self
    }

    /// The finished JSON bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(b'}');
        self.buf
    }
}

/// Appends `s` as a JSON string literal.
fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[(b >> 4) as usize]);
                buf.push(HEX[(b & 0xf) as usize]);
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chain {
        let mut c = Chain::default();
        c.append("a", b"{}".to_vec(), Some("first".into()));
        c.append("b", b"{\"x\":1}".to_vec(), None);
        c.append("c", Vec::new(), Some("third".into()));
        c
    }

    #[test]
    fn a_window_keeps_the_newest_events_and_the_sink_sees_all() {
        struct Count(std::sync::Mutex<Vec<u64>>);
        impl ChainSink for Count {
            fn appended(&self, index: u64, _: &ChainEvent) {
                self.0.lock().unwrap().push(index);
            }
        }
        let sink = std::sync::Arc::new(Count(Default::default()));
        let mut c = Chain::with_sink(sink.clone(), 4);
        for i in 0..20u8 {
            c.append("e", vec![i], None);
        }
        assert_eq!(c.len(), 20);
        assert!(c.events().len() >= 4 && c.events().len() <= 8);
        assert_eq!(c.dropped() as usize + c.events().len(), 20);
        assert_eq!(*sink.0.lock().unwrap(), (0..20).collect::<Vec<u64>>());
        assert_eq!(c.head(), c.events().last().map(|e| e.hash));
        // The tail still links: its first event's parent is the last dropped one.
        assert!(c.events()[0].parent_hash.is_some());
        verify(&c.events()[1..], c.head().as_ref()).unwrap_err();
    }

    #[test]
    fn fresh_chain_verifies_with_head() {
        let c = sample();
        verify(c.events(), c.head().as_ref()).unwrap();
        assert_eq!(c.events()[0].parent_hash, None);
        assert_eq!(c.events()[1].parent_hash, Some(c.events()[0].hash));
    }

    #[test]
    fn altered_byte_is_detected() {
        let c = sample();
        let mut ev = c.events().to_vec();
        ev[1].data[0] ^= 1;
        assert!(matches!(
            verify(&ev, None),
            Err(ChainError::HashMismatch { index: 1, .. })
        ));
    }

    #[test]
    fn dropped_event_is_detected() {
        let c = sample();
        let mut ev = c.events().to_vec();
        ev.remove(1);
        assert!(matches!(
            verify(&ev, None),
            Err(ChainError::BrokenLink { index: 1, .. })
        ));
        let mut ev = c.events().to_vec();
        ev.pop();
        assert!(matches!(
            verify(&ev, c.head().as_ref()),
            Err(ChainError::HeadMismatch { .. })
        ));
    }

    #[test]
    fn description_presence_changes_hash() {
        let a = event_hash(None, "t", b"d", 1, None);
        let b = event_hash(None, "t", b"d", 1, Some(""));
        assert_ne!(a, b);
    }
}
