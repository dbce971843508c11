//! Who waits on whom: an actor blocked in a `request` (or an `open-channel`) waits on its
//! target until the answer comes. That covers a request still queued in the target's mailbox and one the target left
//! outstanding (CONTRACT §7). A call path only knows the callers of the current call, so it
//! misses both. A new request that would close a cycle here is refused, because it would
//! deadlock until the request timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The waits-for graph of one host: each actor waits on at most one other (calls into an actor
/// run one at a time, and a call makes one host call at a time).
#[derive(Default)]
pub(crate) struct WaitsFor {
    edges: Arc<Mutex<HashMap<String, String>>>,
}

/// `from` waiting on `to`, removed when dropped (the answer came, or the wait was given up).
pub(crate) struct Waiting {
    edges: Arc<Mutex<HashMap<String, String>>>,
    from: String,
    to: String,
}

impl WaitsFor {
    /// Records that `from` waits on `to`, unless `to` already waits, directly or through
    /// others, on `from` or on an actor of `path` (the actors waiting on `from`'s current
    /// call). In that case nothing is recorded, and the cycle is returned from `to` on (each
    /// waits on the next; the last is `from`, whose request would close it).
    pub fn enter(&self, from: &str, to: &str, path: &[String]) -> Result<Waiting, Vec<String>> {
        let mut edges = self
            .edges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut chain = vec![to.to_string()];
        let mut at = to.to_string();
        loop {
            if at == from || path.contains(&at) {
                // `at` waits on `from` through the call path: the cycle goes back to it.
                let mut cycle = vec![at.clone()];
                if at != from {
                    let pos = path.iter().position(|p| *p == at).unwrap_or(0);
                    cycle.extend(path[pos + 1..].iter().cloned());
                    if path.last().map(String::as_str) != Some(from) {
                        cycle.push(from.to_string());
                    }
                }
                cycle.extend(chain.iter().skip(usize::from(at == to)).cloned());
                if cycle.len() > 1 && cycle.last() == cycle.first() {
                    cycle.pop();
                }
                // From the target on, as a call path reads: each waits on the next, the last
                // is the caller.
                let start = cycle.iter().position(|a| a == to).unwrap_or(0);
                cycle.rotate_left(start);
                return Err(cycle);
            }
            match edges.get(&at) {
                // A cycle that does not involve `from` cannot be there (it would have been
                // refused), but a long chain must not loop forever.
                Some(next) if !chain.contains(next) => {
                    at = next.clone();
                    chain.push(next.clone());
                }
                _ => break,
            }
        }
        edges.insert(from.to_string(), to.to_string());
        Ok(Waiting {
            edges: self.edges.clone(),
            from: from.to_string(),
            to: to.to_string(),
        })
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut edges = self
            .edges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if edges.get(&self.from) == Some(&self.to) {
            edges.remove(&self.from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_wait_closing_a_cycle_is_refused_and_names_it() {
        let w = WaitsFor::default();
        let _ab = w.enter("a", "b", &p(&["a"])).unwrap();
        // b asking a: a waits on b (its request queued at b, or outstanding there).
        assert_eq!(w.enter("b", "a", &p(&["b"])).err(), Some(p(&["a", "b"])));
        // Through a third: c waits on a, which waits on b; b asking c closes the cycle.
        let _ca = w.enter("c", "a", &p(&["c"])).unwrap();
        assert_eq!(
            w.enter("b", "c", &p(&["b"])).err(),
            Some(p(&["c", "a", "b"]))
        );
        // Through the caller's path: x's call waits on b's (x -> b), b asks y, y waits on x.
        let _yx = w.enter("y", "x", &p(&["y"])).unwrap();
        assert_eq!(
            w.enter("b", "y", &p(&["x", "b"])).err(),
            Some(p(&["y", "x", "b"]))
        );
    }

    #[test]
    fn a_wait_is_forgotten_when_it_ends_and_other_waits_go_on() {
        let w = WaitsFor::default();
        let ab = w.enter("a", "b", &p(&["a"])).unwrap();
        let _cb = w.enter("c", "b", &p(&["c"])).unwrap();
        drop(ab);
        // a no longer waits: b may ask it.
        let _ba = w.enter("b", "a", &p(&["b"])).unwrap();
        // c still waits on b, which now waits on a: a asking c closes a cycle.
        assert_eq!(
            w.enter("a", "c", &p(&["a"])).err(),
            Some(p(&["c", "b", "a"]))
        );
    }
}
