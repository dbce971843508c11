//! Messages to an actor's `message-server-client` exports (`send`, `request`): the target must
//! export them and be running; a request that would wait on an actor already waiting on the
//! caller is refused instead of deadlocking.

use super::*;

impl SystemInner {
    pub(super) fn mailbox_of(&self, to: &str, request: bool) -> Result<ActorMailbox, String> {
        let reg = self.lock();
        let rec = reg.actors.get(to).ok_or_else(|| unknown(to))?;
        let export = if request { HANDLE_REQUEST } else { HANDLE_SEND };
        if !rec.exports.has(&export) {
            return Err(format!(
                "actor `{to}` ({}) does not accept messages: it does not export theater:simple/message-server-client.{}",
                rec.name, export.function
            ));
        }
        let mailbox = rec.mailbox.clone().ok_or_else(|| {
            format!(
                "actor `{to}` ({}) is not running (status: {:?})",
                rec.name, rec.status
            )
        })?;
        Ok(ActorMailbox::new(
            to.to_string(),
            mailbox,
            self.config.mailbox_capacity,
        ))
    }

    /// `send`: queue a message; returns once it is queued.
    pub(crate) fn send(&self, to: &str, msg: Vec<u8>) -> Result<(), String> {
        let mailbox = self.mailbox_of(to, false)?;
        mailbox
            .post(Box::new(SendCall { msg }))
            .map_err(|e: MailboxError| e.to_string())
    }

    /// `request`: queue a request and wait for the answer. Refuses requests that would wait on
    /// an actor already waiting on this one.
    pub(crate) async fn request(
        &self,
        to: &str,
        msg: Vec<u8>,
        path: CallPath,
    ) -> Result<Vec<u8>, String> {
        if let Some(pos) = path.iter().position(|a| a == to) {
            let cycle: Vec<&str> = path[pos..].iter().map(String::as_str).collect();
            return Err(format!(
                "request refused: actor `{to}` is waiting on this call ({} -> {to}), so the request would deadlock",
                cycle.join(" -> ")
            ));
        }
        let (reply, answer) = oneshot::channel();
        let mailbox = self.mailbox_of(to, true)?;
        mailbox
            .post(Box::new(RequestCall { msg, path, reply }))
            .map_err(|e| e.to_string())?;
        answer
            .await
            .map_err(|_| format!("actor `{to}` stopped before answering the request"))?
    }
}
