//! `{{name}}-web`: an HTTP worker built for `wasm32-wasip2`. The host's `http-server` handler
//! serves HTTP/1.1 on the address in `web.toml` and calls the standard
//! `wasi:http/incoming-handler.handle` export for each request, one at a time. It also exports
//! `theater:simple/actor.init`, so it runs under supervision.
//!
//! Routes: `/` answers `hello from <id>: request <n>` (`n` counts this instance's requests, so a
//! restart starts again at 1); `/crash` traps: the request gets `500`, the worker fails, its
//! supervisor restarts it (same id) and it serves again on the same address.

wit_bindgen::generate!({ world: "plain-actor", path: "{{wit}}" });

use exports::theater::simple::actor::Guest as Actor;
use std::io::Write as _;
use std::sync::Mutex;
use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Web;

export!(Web);
wasip2::http::proxy::export!(Web);

/// The actor id `init` got.
static ID: Mutex<String> = Mutex::new(String::new());
/// Requests this instance served.
static SERVED: Mutex<u64> = Mutex::new(0);

impl Actor for Web {
    fn init(state: Option<Vec<u8>>, (id,): (String,)) -> Result<(Option<Vec<u8>>,), String> {
        theater::simple::runtime::log(&format!("{{name}}-web {id} ready"));
        *ID.lock().unwrap() = id;
        Ok((state,))
    }
}

impl wasip2::exports::http::incoming_handler::Guest for Web {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        if path == "/crash" {
            panic!("asked to crash");
        }
        let n = {
            let mut served = SERVED.lock().unwrap();
            *served += 1;
            *served
        };
        let id = ID.lock().unwrap().clone();
        respond(out, 200, format!("hello from {id}: request {n}\n").as_bytes());
    }
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[(
        "content-type".to_string(),
        b"text/plain; charset=utf-8".to_vec(),
    )])
    .expect("valid header");
    let resp = OutgoingResponse::new(headers);
    resp.set_status_code(status).expect("valid status");
    let outgoing = resp.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(resp));
    let mut stream = outgoing.write().expect("stream taken once");
    stream.write_all(body).expect("write body");
    stream.flush().expect("flush body");
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish body");
}
