//! `peer`: both ends of `message-server` channels and a server that answers requests later, for
//! the CONTRACT §7 tests and the channel benchmark.
//!
//! Messages (request or send) are space-separated verbs: `open <actor> <initial>`,
//! `say <channel> <text>`, `close <channel>`, `burst <channel> <n>` (sends `q<i>`),
//! `pingpong <channel> <n>`, `done`, `count`, `log`, `later <tag>` (leaves the request
//! outstanding), `pending`, `respond <request-id> <text>`, `cancel <request-id>`,
//! `request <actor> <msg>`, `fail`, `trap`.
//!
//! `handle-channel-open` refuses an initial message `refuse <why>` (with that message),
//! `refuse-silent` (without one), fails on `fail`, and accepts anything else. Channel messages
//! starting with `q`, `ping` or `pong` are only counted (the benchmark); others are logged.
//!
//! State: line 1 is `<count> <pingpong-done>`, then one log line per event: `open <id> <initial>`,
//! `msg <id> <text>`, `close <id>`, `req <request-id> <tag>`, `got <reply>` (a `request` sent
//! with `handle-send`).

wit_bindgen::generate!({ world: "message-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use theater::simple::message_server_host as host;

struct Peer;

export!(Peer);

type State = Option<Vec<u8>>;

/// The state: a counter of quiet channel messages, whether a ping-pong finished, the log.
struct Book {
    count: u64,
    done: bool,
    lines: Vec<String>,
}

impl Book {
    fn load(state: &State) -> Book {
        let text = state
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let mut lines = text.lines();
        let head = lines.next().unwrap_or("0 no");
        let (count, done) = head.split_once(' ').unwrap_or((head, "no"));
        Book {
            count: count.parse().unwrap_or(0),
            done: done == "yes",
            lines: lines.map(str::to_string).collect(),
        }
    }

    fn save(&self) -> State {
        let mut text = format!("{} {}", self.count, if self.done { "yes" } else { "no" });
        for l in &self.lines {
            text.push('\n');
            text.push_str(l);
        }
        Some(text.into_bytes())
    }
}

fn done(r: Result<(), String>) -> String {
    match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("err {e}"),
    }
}

/// Runs one message; `None` as the reply leaves a request outstanding.
fn dispatch(
    book: &mut Book,
    request_id: Option<&str>,
    msg: &[u8],
) -> Result<Option<String>, String> {
    let msg = String::from_utf8_lossy(msg);
    let mut words = msg.splitn(3, ' ');
    let verb = words.next().unwrap_or_default();
    let a = words.next().unwrap_or_default();
    let b = words.next().unwrap_or_default();
    let reply = match verb {
        "open" => match host::open_channel(a, b.as_bytes()) {
            Ok(id) => format!("ok {id}"),
            Err(e) => format!("err {e}"),
        },
        "say" => done(host::send_on_channel(a, b.as_bytes())),
        "close" => done(host::close_channel(a)),
        "burst" => {
            let n: u64 = b.parse().unwrap_or(0);
            let mut r = Ok(());
            for i in 0..n {
                r = host::send_on_channel(a, format!("q{i}").as_bytes());
                if r.is_err() {
                    break;
                }
            }
            done(r)
        }
        "pingpong" => {
            book.done = false;
            done(host::send_on_channel(a, format!("ping {b}").as_bytes()))
        }
        "done" => format!("ok {}", if book.done { "yes" } else { "no" }),
        "count" => format!("ok {}", book.count),
        "log" => format!("ok {}", book.lines.join("\n")),
        "later" => match request_id {
            Some(id) => {
                book.lines.push(format!("req {id} {a}"));
                return Ok(None);
            }
            None => "err later needs a request".to_string(),
        },
        "pending" => format!("ok {}", host::list_outstanding_requests().join(",")),
        "respond" => {
            let text = if b.is_empty() { None } else { Some(b) };
            done(host::respond_to_request(
                a,
                text.unwrap_or_default().as_bytes(),
            ))
        }
        "cancel" => done(host::cancel_request(a)),
        "request" => match host::request(a, b.as_bytes()) {
            Ok(r) => format!("ok {}", String::from_utf8_lossy(&r)),
            Err(e) => format!("err {e}"),
        },
        "fail" => return Err("peer failing on purpose".to_string()),
        "trap" => panic!("peer trapping on purpose"),
        other => format!("err unknown verb {other}"),
    };
    Ok(Some(reply))
}

impl Actor for Peer {
    fn init(state: State, _params: (String,)) -> Result<(State,), String> {
        Ok((Book::load(&state).save(),))
    }
}

impl MessageServerClient for Peer {
    fn handle_send(state: State, (msg,): (Vec<u8>,)) -> Result<(State,), String> {
        let mut book = Book::load(&state);
        // The answer of a request sent this way is logged (`got <reply>`).
        if let Some(reply) = dispatch(&mut book, None, &msg)?
            && msg.starts_with(b"request ")
        {
            book.lines.push(format!("got {reply}"));
        }
        Ok((book.save(),))
    }

    fn handle_request(
        state: State,
        (request_id, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let mut book = Book::load(&state);
        let reply = dispatch(&mut book, Some(&request_id), &msg)?;
        Ok((book.save(), (reply.map(String::into_bytes),)))
    }

    fn handle_channel_open(
        state: State,
        (id, initial): (String, Vec<u8>),
    ) -> Result<(State, (ChannelAccept,)), String> {
        let initial = String::from_utf8_lossy(&initial).into_owned();
        if initial == "fail" {
            return Err("peer refusing to handle this open".to_string());
        }
        let refusal = match initial.split_once(' ') {
            Some(("refuse", why)) => Some(Some(why.as_bytes().to_vec())),
            _ if initial == "refuse-silent" => Some(None),
            _ => None,
        };
        let mut book = Book::load(&state);
        let accept = match refusal {
            Some(message) => ChannelAccept {
                accepted: false,
                message,
            },
            None => {
                book.lines.push(format!("open {id} {initial}"));
                ChannelAccept {
                    accepted: true,
                    message: None,
                }
            }
        };
        Ok((book.save(), (accept,)))
    }

    fn handle_channel_message(
        state: State,
        (id, msg): (String, Vec<u8>),
    ) -> Result<(State,), String> {
        let mut book = Book::load(&state);
        let text = String::from_utf8_lossy(&msg);
        if let Some(k) = text.strip_prefix("ping ") {
            book.count += 1;
            let _ = host::send_on_channel(&id, format!("pong {k}").as_bytes());
        } else if let Some(k) = text.strip_prefix("pong ") {
            book.count += 1;
            let k: u64 = k.parse().unwrap_or(0);
            if k > 1 {
                let _ = host::send_on_channel(&id, format!("ping {}", k - 1).as_bytes());
            } else {
                book.done = true;
            }
        } else if text.starts_with('q') {
            book.count += 1;
        } else {
            book.lines.push(format!("msg {id} {text}"));
        }
        Ok((book.save(),))
    }

    fn handle_channel_close(state: State, (id,): (String,)) -> Result<(State,), String> {
        let mut book = Book::load(&state);
        book.lines.push(format!("close {id}"));
        Ok((book.save(),))
    }
}
