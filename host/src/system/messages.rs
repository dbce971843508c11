//! Messages to an actor's `message-server-client` exports (`send`, `request`): the target must
//! export them and be running; a request that would wait on an actor already waiting on the
//! caller (through the call path, or through queued or outstanding requests:
//! [`crate::engine::waits`]) is refused instead of deadlocking.

use super::*;

impl SystemInner {
    pub(super) fn mailbox_of(&self, to: &str, request: bool) -> HostResult<ActorMailbox> {
        let reg = self.lock();
        let rec = reg
            .actors
            .get(to)
            .ok_or_else(|| HostError::UnknownActor(to.to_string()))?;
        let export = if request { HANDLE_REQUEST } else { HANDLE_SEND };
        if !rec.exports.has(&export) {
            return Err(HostError::NotAccepting {
                actor: to.to_string(),
                name: rec.name.clone(),
                function: export.function,
            });
        }
        let mailbox = rec.mailbox.clone().ok_or_else(|| HostError::NotReceiving {
            actor: to.to_string(),
            name: rec.name.clone(),
            status: rec.status,
        })?;
        Ok(ActorMailbox::new(
            to.to_string(),
            mailbox,
            self.config.mailbox_capacity,
        ))
    }

    /// `send`: queue a message; returns once it is queued.
    pub(crate) fn send(&self, to: &str, msg: Vec<u8>) -> HostResult<()> {
        let mailbox = self.mailbox_of(to, false)?;
        Ok(mailbox.post(Box::new(SendCall { msg }))?)
    }

    /// `request`: queue a request and wait for the answer. Refuses requests that would wait on
    /// an actor already waiting on this one.
    pub(crate) async fn request(
        &self,
        to: &str,
        msg: Vec<u8>,
        path: CallPath,
        from: Requester,
    ) -> HostResult<Vec<u8>> {
        // The caller waits on `to` until the answer: refused if `to` already waits on it,
        // through the call path or through queued or outstanding requests. The embedding API
        // is no actor: its requests are checked against the path they carry, and recorded as
        // nobody's wait.
        let caller = from.chain.as_ref().map(|_| from.id.as_str());
        let _waiting = self
            .messaging
            .waits
            .enter(caller, to, &path)
            .map_err(|cycle| HostError::Deadlock {
                to: to.to_string(),
                cycle: cycle.join(" -> "),
            })?;
        let (reply, answer) = oneshot::channel();
        let mailbox = self.mailbox_of(to, true)?;
        let id = crate::engine::instance::next_request_id();
        let sent = std::time::Instant::now();
        mailbox.post(Box::new(RequestCall {
            id,
            msg,
            path,
            from,
            sent,
            reply,
        }))?;
        // The answer's error is the target's own message (it failed, or gave no answer). An
        // outstanding request ends by itself at the timeout; one still queued or being handled
        // is bounded by the target's call deadlines, so this waits a little longer than those.
        let timeout = self.config.request_timeout + self.config.call_timeout;
        let answer = match tokio::time::timeout(timeout, answer).await {
            Ok(a) => a.map_err(|_| HostError::NoAnswer(to.to_string()))?,
            Err(_) => {
                return Err(HostError::RequestTimeout {
                    to: to.to_string(),
                    timeout,
                });
            }
        };
        Ok(answer?)
    }
}
