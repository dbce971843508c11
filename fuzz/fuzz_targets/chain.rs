//! Event chain, structured: fuzzed event fields (via `arbitrary`) are linked into a valid chain
//! with `chain::event_hash`; `chain::verify` and the events-file path (`EventJson` /
//! `EventsFile::verify`) must accept it. Then one fuzzed tampering (a flipped bit in a fuzzed
//! byte of a fuzzed field, a dropped, duplicated or swapped event) must be rejected, with the
//! error naming the right event.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use theater_core::chain::{self, ChainError, ChainEvent};
use theater_core::events_file::{ActorEvents, EventsFile};
use theater_core::status::ActorStatus;

#[derive(Arbitrary, Debug)]
struct Input {
    events: Vec<FuzzEvent>,
    tamper: Tamper,
}

#[derive(Arbitrary, Debug)]
struct FuzzEvent {
    event_type: String,
    data: Vec<u8>,
    timestamp: u64,
    description: Option<String>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Field {
    Hash,
    ParentHash,
    EventType,
    Data,
    Timestamp,
    Description,
}

#[derive(Arbitrary, Debug)]
enum Tamper {
    /// Flip bit `bit % 8` of byte `byte` (modulo the field's length) of `field` of event `event`.
    Flip {
        event: usize,
        field: Field,
        byte: usize,
        bit: u8,
    },
    /// Remove one event.
    Drop { event: usize },
    /// Insert a copy of an event right after it.
    Duplicate { event: usize },
    /// Exchange two events.
    Swap { a: usize, b: usize },
}

/// Links fuzzed fields into a chain, as `Chain::append` does but with fuzzed timestamps.
fn build(events: &[FuzzEvent]) -> Vec<ChainEvent> {
    let mut out: Vec<ChainEvent> = Vec::with_capacity(events.len());
    for e in events {
        let parent_hash = out.last().map(|p| p.hash);
        let hash = chain::event_hash(
            parent_hash.as_ref(),
            &e.event_type,
            &e.data,
            e.timestamp,
            e.description.as_deref(),
        );
        out.push(ChainEvent {
            hash,
            parent_hash,
            event_type: e.event_type.clone(),
            data: e.data.clone(),
            timestamp: e.timestamp,
            description: e.description.clone(),
        });
    }
    out
}

/// The events-file path: JSON text and back, then `EventsFile::verify`.
fn file_problems(events: &[ChainEvent], head: Option<[u8; 32]>) -> Vec<String> {
    let mut actor = ActorEvents::new("id", "fuzz", None, ActorStatus::Running, events);
    actor.head = head.map(hex::encode);
    let text = serde_json::to_vec(&EventsFile::new(vec![actor])).expect("serializes");
    let file: EventsFile = serde_json::from_slice(&text).expect("written file decodes");
    for (j, e) in file.actors[0].events.iter().zip(events) {
        assert_eq!(
            j.to_event().as_ref(),
            Ok(e),
            "JSON round trip changed an event"
        );
    }
    file.verify()
}

/// Flips one bit of a field; returns false when the field has no byte to flip.
fn flip(e: &mut ChainEvent, field: Field, byte: usize, bit: u8) -> bool {
    let mask = 1u8 << (bit % 8);
    match field {
        Field::Hash => e.hash[byte % 32] ^= mask,
        Field::ParentHash => match &mut e.parent_hash {
            Some(p) => p[byte % 32] ^= mask,
            None => return false,
        },
        Field::Data => {
            if e.data.is_empty() {
                return false;
            }
            let n = e.data.len();
            e.data[byte % n] ^= mask;
        }
        Field::Timestamp => e.timestamp ^= 1u64 << (bit % 64),
        Field::EventType => {
            // Strings must stay UTF-8: flip within an ASCII byte's low 7 bits, or append.
            let mut b = std::mem::take(&mut e.event_type).into_bytes();
            flip_text(&mut b, byte, bit);
            e.event_type = String::from_utf8(b).expect("still UTF-8");
        }
        Field::Description => match e.description.take() {
            None => e.description = Some(String::new()),
            Some(d) if d.is_empty() && bit & 1 == 0 => e.description = None,
            Some(d) => {
                let mut b = d.into_bytes();
                flip_text(&mut b, byte, bit);
                e.description = Some(String::from_utf8(b).expect("still UTF-8"));
            }
        },
    }
    true
}

/// Flips one of the low 7 bits of an ASCII byte (the text stays UTF-8), or appends one when the
/// text has no ASCII byte.
fn flip_text(b: &mut Vec<u8>, byte: usize, bit: u8) {
    let ascii: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii()).collect();
    if ascii.is_empty() {
        b.push(b'x');
    } else {
        b[ascii[byte % ascii.len()]] ^= 1 << (bit % 7);
    }
}

fuzz_target!(|input: Input| {
    let events = build(&input.events);
    let head = events.last().map(|e| e.hash);
    chain::verify(&events, head.as_ref()).expect("a freshly built chain verifies");
    chain::verify(&events, None).expect("a freshly built chain verifies without head");
    assert_eq!(file_problems(&events, head), Vec::<String>::new());
    if events.is_empty() {
        return;
    }
    let n = events.len();

    let mut bad = events.clone();
    let expected = match input.tamper {
        Tamper::Flip {
            event,
            field,
            byte,
            bit,
        } => {
            let i = event % n;
            if !flip(&mut bad[i], field, byte, bit) {
                return;
            }
            match field {
                // A changed parent hash no longer points at the previous event.
                Field::ParentHash => ChainError::BrokenLink {
                    index: i,
                    event_type: bad[i].event_type.clone(),
                },
                // Any other change no longer matches the stored hash.
                _ => ChainError::HashMismatch {
                    index: i,
                    event_type: bad[i].event_type.clone(),
                },
            }
        }
        Tamper::Drop { event } => {
            let i = event % n;
            bad.remove(i);
            if i == n - 1 {
                // Cut off the end: only the recorded head notices.
                chain::verify(&bad, None).expect("a prefix of a chain verifies");
                ChainError::HeadMismatch {
                    last: bad.len() as isize - 1,
                }
            } else {
                ChainError::BrokenLink {
                    index: i,
                    event_type: bad[i].event_type.clone(),
                }
            }
        }
        Tamper::Duplicate { event } => {
            let i = event % n;
            bad.insert(i + 1, bad[i].clone());
            ChainError::BrokenLink {
                index: i + 1,
                event_type: bad[i].event_type.clone(),
            }
        }
        Tamper::Swap { a, b } => {
            let (a, b) = (a % n, b % n);
            if a == b {
                return;
            }
            bad.swap(a, b);
            let first = a.min(b);
            ChainError::BrokenLink {
                index: first,
                event_type: bad[first].event_type.clone(),
            }
        }
    };
    assert_eq!(chain::verify(&bad, head.as_ref()), Err(expected));
    let problems = file_problems(&bad, head);
    assert_eq!(problems.len(), 1, "{problems:?}");
});
