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
    /// Checks that `to` does not already wait, directly or through others, on `from` or on an
    /// actor of `path` (the actors waiting on the caller's current call, the caller last), and
    /// records that `from` now waits on `to`. `from` is `None` for a caller that is not an
    /// actor (the embedding API): only the check is made. A refusal returns the cycle from `to`
    /// on, as a call path reads: each waits on the next, the last is the caller.
    pub fn enter(
        &self,
        from: Option<&str>,
        to: &str,
        path: &[String],
    ) -> Result<Option<Waiting>, Vec<String>> {
        let mut edges = self
            .edges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // `to`, then whom it waits on, and so on.
        let mut chain = vec![to.to_string()];
        loop {
            let at = chain.last().expect("starts with `to`");
            if Some(at.as_str()) == from {
                return Err(chain);
            }
            if let Some(pos) = path.iter().position(|p| p == at) {
                // `at` waits on the caller through the call path.
                chain.extend(path[pos + 1..].iter().cloned());
                if let Some(from) = from
                    && path.last().map(String::as_str) != Some(from)
                {
                    chain.push(from.to_string());
                }
                return Err(chain);
            }
            match edges.get(at) {
                // A cycle that does not involve the caller cannot be there (it would have been
                // refused), but a long chain must not loop forever.
                Some(next) if !chain.contains(next) => chain.push(next.clone()),
                _ => break,
            }
        }
        let Some(from) = from else {
            return Ok(None);
        };
        edges.insert(from.to_string(), to.to_string());
        Ok(Some(Waiting {
            edges: self.edges.clone(),
            from: from.to_string(),
            to: to.to_string(),
        }))
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
        let _ab = w.enter(Some("a"), "b", &p(&["a"])).unwrap();
        // b asking a: a waits on b (its request queued at b, or outstanding there).
        assert_eq!(
            w.enter(Some("b"), "a", &p(&["b"])).err(),
            Some(p(&["a", "b"]))
        );
        // Through a third: c waits on a, which waits on b; b asking c closes the cycle.
        let _ca = w.enter(Some("c"), "a", &p(&["c"])).unwrap();
        assert_eq!(
            w.enter(Some("b"), "c", &p(&["b"])).err(),
            Some(p(&["c", "a", "b"]))
        );
        // Through the caller's path: x's call waits on b's (x -> b), b asks y, y waits on x.
        let _yx = w.enter(Some("y"), "x", &p(&["y"])).unwrap();
        assert_eq!(
            w.enter(Some("b"), "y", &p(&["x", "b"])).err(),
            Some(p(&["y", "x", "b"]))
        );
    }

    #[test]
    fn the_call_path_alone_refuses_a_request_back_and_a_caller_that_is_no_actor_waits_on_nobody() {
        let w = WaitsFor::default();
        // b, called by a, asking a back.
        assert_eq!(
            w.enter(Some("b"), "a", &p(&["a", "b"])).err(),
            Some(p(&["a", "b"]))
        );
        // The embedding API on behalf of a call of a and b: checked, not recorded.
        assert_eq!(
            w.enter(None, "a", &p(&["a", "b"])).err(),
            Some(p(&["a", "b"]))
        );
        assert!(w.enter(None, "c", &p(&["a", "b"])).unwrap().is_none());
    }

    #[test]
    fn a_wait_is_forgotten_when_it_ends_and_other_waits_go_on() {
        let w = WaitsFor::default();
        let ab = w.enter(Some("a"), "b", &p(&["a"])).unwrap();
        let _cb = w.enter(Some("c"), "b", &p(&["c"])).unwrap();
        drop(ab);
        // a no longer waits: b may ask it.
        let _ba = w.enter(Some("b"), "a", &p(&["b"])).unwrap();
        // c still waits on b, which now waits on a: a asking c closes a cycle.
        assert_eq!(
            w.enter(Some("a"), "c", &p(&["a"])).err(),
            Some(p(&["c", "b", "a"]))
        );
    }
}
