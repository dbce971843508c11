//! An actor's mailbox: every call into the actor waits here and runs one at a time, in arrival
//! order. Messages (`send`, `request`) are bounded: past the capacity they are refused, so a
//! flood cannot grow a slow actor's queue without limit. Callbacks to a parent and fired timers
//! are never refused (each has its own bound).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// The sending side of an actor's mailbox.
pub(crate) struct Mailbox<T> {
    tx: mpsc::UnboundedSender<(bool, T)>,
    queued: Arc<AtomicUsize>,
}

impl<T> Clone for Mailbox<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            queued: self.queued.clone(),
        }
    }
}

/// The receiving side, owned by the actor's task.
pub(crate) struct MailboxRx<T> {
    rx: mpsc::UnboundedReceiver<(bool, T)>,
    queued: Arc<AtomicUsize>,
}

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueError {
    /// `capacity` messages are already waiting.
    Full,
    /// The actor's task is gone.
    Closed,
}

impl<T> Mailbox<T> {
    pub fn new() -> (Self, MailboxRx<T>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Self {
                tx,
                queued: queued.clone(),
            },
            MailboxRx { rx, queued },
        )
    }

    /// Queues a callback or a fired timer (never refused while the actor runs).
    pub fn notify(&self, item: T) -> bool {
        self.tx.send((false, item)).is_ok()
    }

    /// Queues a message unless `capacity` messages are already waiting.
    pub fn message(&self, item: T, capacity: usize) -> Result<(), QueueError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(QueueError::Full);
        }
        self.tx.send((true, item)).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            QueueError::Closed
        })
    }
}

impl<T> MailboxRx<T> {
    /// The next item, in arrival order; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<T> {
        let (counted, item) = self.rx.recv().await?;
        if counted {
            self.queued.fetch_sub(1, Ordering::AcqRel);
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_are_bounded_callbacks_are_not_and_order_is_kept() {
        let (tx, mut rx) = Mailbox::<u32>::new();
        assert_eq!(tx.message(1, 2), Ok(()));
        assert_eq!(tx.message(2, 2), Ok(()));
        assert_eq!(tx.message(3, 2), Err(QueueError::Full));
        assert!(tx.notify(4), "callbacks are not counted");
        assert_eq!(rx.recv().await, Some(1));
        // Taking one makes room for one more.
        assert_eq!(tx.message(5, 2), Ok(()));
        assert_eq!(tx.message(6, 2), Err(QueueError::Full));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(4));
        assert_eq!(rx.recv().await, Some(5));
        drop(rx);
        assert_eq!(tx.message(7, 2), Err(QueueError::Closed));
        assert!(!tx.notify(8));
    }
}
