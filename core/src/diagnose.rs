//! Telling apart what is wrong with a stored chain: a **gap** (positions missing), **tampering**
//! (an event whose stored hash does not match its contents) and a **fork** (a well-formed event
//! that does not continue from the event before it: a second history written into the chain).

use crate::chain::{ChainEvent, event_hash};
use std::collections::HashMap;

/// One problem of a stored chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainProblem {
    /// Positions `from..=to` hold no event: the chain is cut there.
    #[error("gap: events {from}..={to} are missing")]
    Gap {
        /// First missing position.
        from: u64,
        /// Last missing position.
        to: u64,
    },
    /// The event's stored hash does not match its fields: it was changed after it was written.
    #[error("tampered: event {index} ({event_type}) does not match its stored hash")]
    Tampered {
        /// Position.
        index: u64,
        /// Its event type as stored.
        event_type: String,
    },
    /// The event is well-formed (its hash matches) but its parent is not the event before it.
    #[error("fork at event {index} ({event_type}): it continues from {}", match .continues_from {
        Some(p) => format!("event {p} instead of event {}", index - 1),
        None if *index == 0 => "an event that is not stored, but it is the first one".to_string(),
        None => format!("an event that is not stored instead of event {}", index - 1),
    })]
    Fork {
        /// Position.
        index: u64,
        /// Its event type as stored.
        event_type: String,
        /// The stored position of the event it continues from, if that one is stored.
        continues_from: Option<u64>,
    },
}

/// Every problem of a stored chain, given its rows `(position, event)` in position order.
/// Empty means the chain verifies from its first event to its last.
pub fn diagnose(rows: &[(u64, ChainEvent)]) -> Vec<ChainProblem> {
    let by_hash: HashMap<[u8; 32], u64> = rows.iter().map(|(i, e)| (e.hash, *i)).collect();
    let mut problems = Vec::new();
    let mut expect = 0u64;
    let mut prev: Option<[u8; 32]> = None;
    for (index, e) in rows {
        let index = *index;
        let after_gap = index > expect;
        if after_gap {
            problems.push(ChainProblem::Gap {
                from: expect,
                to: index - 1,
            });
        }
        let computed = event_hash(
            e.parent_hash.as_ref(),
            &e.event_type,
            &e.data,
            e.timestamp,
            e.description.as_deref(),
        );
        if computed != e.hash {
            problems.push(ChainProblem::Tampered {
                index,
                event_type: e.event_type.clone(),
            });
        } else if !after_gap && e.parent_hash != prev {
            problems.push(ChainProblem::Fork {
                index,
                event_type: e.event_type.clone(),
                continues_from: e.parent_hash.and_then(|p| by_hash.get(&p).copied()),
            });
        }
        prev = Some(e.hash);
        expect = index + 1;
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;

    fn rows(n: u8) -> Vec<(u64, ChainEvent)> {
        let mut chain = Chain::default();
        for i in 0..n {
            chain.append("e", vec![i], None);
        }
        chain
            .events()
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, e)| (i as u64, e))
            .collect()
    }

    #[test]
    fn a_whole_chain_has_no_problem() {
        assert!(diagnose(&rows(10)).is_empty());
        assert!(diagnose(&[]).is_empty());
    }

    #[test]
    fn a_gap_is_named_with_its_positions() {
        let mut r = rows(10);
        r.drain(3..6);
        assert_eq!(diagnose(&r), [ChainProblem::Gap { from: 3, to: 5 }]);
        let mut r = rows(4);
        r.remove(0);
        assert_eq!(diagnose(&r), [ChainProblem::Gap { from: 0, to: 0 }]);
    }

    #[test]
    fn a_changed_event_is_tampering_not_a_fork() {
        let mut r = rows(6);
        r[2].1.data = b"changed".to_vec();
        assert_eq!(
            diagnose(&r),
            [ChainProblem::Tampered {
                index: 2,
                event_type: "e".into()
            }]
        );
    }

    #[test]
    fn a_second_history_written_over_the_chain_is_a_fork() {
        // Positions 4.. rewritten by a host that continued from event 1.
        let mut r = rows(4);
        let mut other = Chain::restore(vec![r[1].1.clone()], 2, None, 0);
        other.append("lifecycle.start", b"{}".to_vec(), None);
        other.append("x", b"{}".to_vec(), None);
        let forked: Vec<ChainEvent> = other.events().iter().skip(1).cloned().collect();
        r.extend(
            forked
                .into_iter()
                .enumerate()
                .map(|(i, e)| (4 + i as u64, e)),
        );
        let problems = diagnose(&r);
        assert_eq!(
            problems,
            [ChainProblem::Fork {
                index: 4,
                event_type: "lifecycle.start".into(),
                continues_from: Some(1)
            }]
        );
        assert_eq!(
            problems[0].to_string(),
            "fork at event 4 (lifecycle.start): it continues from event 1 instead of event 3"
        );
    }
}
