//! Dropping this host's copy of a tree at once, when the tree belongs to another host now (its
//! lease was taken over, see [`crate::store::PostgresStore`]): no callbacks to anyone, nothing
//! written, the actors' tasks aborted.

use super::{ActorId, ActorStatus, ActorSystem, Ordering, RootOutcome};

impl ActorSystem {
    /// Stops the tree rooted at `root` on this host at once, because another host owns it now
    /// (`why` is logged and becomes the root's outcome). Unlike a stop, nothing runs in the
    /// actors and nothing is recorded: the tree's chains continue on the new owner. Returns the
    /// number of actors dropped.
    pub fn abandon_tree(&self, root: &str, why: &str) -> usize {
        let inner = &self.inner;
        let mut dropped: Vec<ActorId> = Vec::new();
        {
            let mut reg = inner.lock();
            let in_tree = |id: &str, reg: &super::Registry| {
                let mut at = Some(id.to_string());
                while let Some(a) = at {
                    if a == root {
                        return true;
                    }
                    at = reg.actors.get(&a).and_then(|r| r.parent.clone());
                }
                false
            };
            let members: Vec<ActorId> = reg
                .order
                .iter()
                .filter(|id| in_tree(id, &reg))
                .cloned()
                .collect();
            for id in members {
                let Some(rec) = reg.actors.get_mut(&id) else {
                    continue;
                };
                // First: nothing of this actor reaches the store any more.
                rec.sink = None;
                rec.mailbox = None;
                rec.stop_tx = None;
                let was_live = !rec.status.is_terminal();
                if let Some(join) = rec.join.take() {
                    join.abort();
                }
                if was_live {
                    rec.status = ActorStatus::Failed;
                    rec.status_tx.send_replace(ActorStatus::Failed);
                    inner.live.fetch_sub(1, Ordering::SeqCst);
                    dropped.push(id);
                }
            }
        }
        tracing::warn!(%root, actors = dropped.len(), %why, "this host's copy of the tree was dropped: another host owns it now");
        if self.inner.lock().order.first().map(String::as_str) == Some(root) {
            inner.root_outcome.send_if_modified(|o| {
                if o.is_none() {
                    *o = Some(RootOutcome::LeaseLost(why.to_string()));
                    true
                } else {
                    false
                }
            });
        }
        dropped.len()
    }
}
