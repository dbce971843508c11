//! An actor's live children in start order, with O(log n) insertion and removal: a parent with
//! 100,000 children must not pay a linear scan on every spawn or stop.

use super::ActorId;
use std::collections::{BTreeMap, HashMap};

/// Live children in start order.
#[derive(Debug, Default, Clone)]
pub(crate) struct ChildList {
    by_seq: BTreeMap<u64, ActorId>,
    seq_of: HashMap<ActorId, u64>,
    next: u64,
}

impl ChildList {
    /// Appends `id` unless it is already listed (a child restarted in place keeps its place).
    pub fn push(&mut self, id: &str) {
        if self.seq_of.contains_key(id) {
            return;
        }
        self.by_seq.insert(self.next, id.to_string());
        self.seq_of.insert(id.to_string(), self.next);
        self.next += 1;
    }

    /// Removes `id` if listed.
    pub fn remove(&mut self, id: &str) {
        if let Some(seq) = self.seq_of.remove(id) {
            self.by_seq.remove(&seq);
        }
    }

    /// Number of live children.
    pub fn len(&self) -> usize {
        self.seq_of.len()
    }

    /// Ids in start order.
    pub fn ids(&self) -> Vec<ActorId> {
        self.by_seq.values().cloned().collect()
    }

    /// Forgets every child.
    pub fn clear(&mut self) {
        self.by_seq.clear();
        self.seq_of.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_start_order_through_removals_and_repeated_pushes() {
        let mut l = ChildList::default();
        for id in ["a", "b", "c", "d"] {
            l.push(id);
        }
        l.remove("b");
        l.push("c");
        l.push("e");
        assert_eq!(l.ids(), ["a", "c", "d", "e"]);
        assert_eq!(l.len(), 4);
        l.clear();
        assert_eq!(l.len(), 0);
    }
}
