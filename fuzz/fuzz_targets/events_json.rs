//! Events file decoder: arbitrary bytes -> `serde_json` decode of `EventsFile` ->
//! `EventJson::to_event` and `EventsFile::verify` must never panic, and must agree with each other
//! and with `chain::verify`. Decoded events survive a JSON round trip byte-exact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use theater_core::chain::{self, ChainEvent};
use theater_core::events_file::{EventJson, EventsFile};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = serde_json::from_slice::<EventsFile>(data) else {
        return;
    };
    let problems = file.verify();

    // `verify` reports at most one problem per actor, and one for every actor whose chain does
    // not decode or does not verify.
    let mut broken = 0;
    for a in &file.actors {
        let decoded: Result<Vec<ChainEvent>, String> =
            a.events.iter().map(EventJson::to_event).collect();
        // A recorded head must be 64 hex digits (`None` inside: it is not).
        let head = a.head.as_ref().map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
        });
        let ok = match (decoded, head) {
            (Err(_), _) | (_, Some(None)) => false,
            (Ok(events), head) => {
                for e in &events {
                    round_trip(e);
                }
                chain::verify(&events, head.flatten().as_ref()).is_ok()
            }
        };
        if !ok {
            broken += 1;
        }
    }
    assert_eq!(problems.len(), broken, "{problems:?}");

    // Writing the file back and reading it again gives the same verdicts.
    let text = serde_json::to_string(&file).expect("an EventsFile always serializes");
    let again: EventsFile = serde_json::from_str(&text).expect("re-read of a written file");
    assert_eq!(again.verify(), problems);
});

/// `from_event` then `to_event` gives back the same event, and the JSON form of a decoded event is
/// canonical (lowercase hex; `data` when UTF-8, else `data_hex`).
fn round_trip(e: &ChainEvent) {
    let j = EventJson::from_event(e);
    assert_eq!(j.to_event().as_ref(), Ok(e));
    assert_eq!(j.data.is_some(), std::str::from_utf8(&e.data).is_ok());
    assert!(j.data.is_none() || j.data_hex.is_none());
    assert_eq!(j.hash.len(), 64);
    assert!(!j.hash.bytes().any(|b| b.is_ascii_uppercase()));
    let k: EventJson = serde_json::from_str(&serde_json::to_string(&j).unwrap()).unwrap();
    assert_eq!(k.to_event().as_ref(), Ok(e));
}
