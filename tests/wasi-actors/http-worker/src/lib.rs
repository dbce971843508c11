//! `http-worker`: a `wasm32-wasip2` actor that serves HTTP through the standard
//! `wasi:http/incoming-handler` export (the `wasip2` crate's bindings), for the `http-server`
//! handler's tests, the HTTP demo and the HTTP benchmark. It also exports
//! `theater:simple/actor.init`, so it runs under supervision, and nothing in it is specific to
//! this host: a plain wasmtime-wasi-http embedding serves the same component.
//!
//! Paths:
//! - `/` (and anything not below): `hello from <id>: request <n>` (`n` counts the requests to
//!   this route this instance served; a restart starts again at 1);
//! - `/health`: `ok`;
//! - `/echo`: the request body back;
//! - `/big?bytes=N`: `N` bytes of `x`;
//! - `/crash`: traps (a panic, built with `panic = "abort"`);
//! - `/err`: answers the response-outparam with an error code;
//! - `/none`: returns without answering;
//! - `/spin`: loops forever (past any call deadline);
//! - `/sleep?ms=N`: waits N ms on a WASI clock, then answers.

wit_bindgen::generate!({ world: "plain-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use std::io::{Read as _, Write as _};
use std::sync::Mutex;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Worker;

export!(Worker);
wasip2::http::proxy::export!(Worker);

/// The actor id `init` got (empty when served by a plain embedding, which never calls init).
static ID: Mutex<String> = Mutex::new(String::new());
/// Requests this instance served.
static SERVED: Mutex<u64> = Mutex::new(0);

impl Actor for Worker {
    fn init(state: Option<Vec<u8>>, (id,): (String,)) -> Result<(Option<Vec<u8>>,), String> {
        theater::simple::runtime::log(&format!("http worker {id} ready"));
        *ID.lock().unwrap() = id;
        Ok((state,))
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

fn query(path: &str, key: &str) -> Option<u64> {
    let (_, q) = path.split_once('?')?;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

impl wasip2::exports::http::incoming_handler::Guest for Worker {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let route = path.split('?').next().unwrap_or_default().to_string();
        match route.as_str() {
            "/health" => respond(out, 200, b"ok\n"),
            "/crash" => panic!("asked to crash"),
            "/err" => ResponseOutparam::set(
                out,
                Err(ErrorCode::InternalError(Some("asked to fail".into()))),
            ),
            "/none" => {}
            "/spin" => {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "/sleep" => {
                let ms = query(&path, "ms").unwrap_or(100);
                wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                respond(out, 200, format!("slept {ms} ms\n").as_bytes());
            }
            "/echo" => {
                let body = request.consume().expect("body consumed once");
                let mut bytes = Vec::new();
                {
                    let mut stream = body.stream().expect("stream taken once");
                    stream.read_to_end(&mut bytes).expect("read body");
                }
                drop(body);
                respond(out, 200, &bytes);
            }
            "/big" => {
                let n = query(&path, "bytes").unwrap_or(1024) as usize;
                respond(out, 200, &vec![b'x'; n]);
            }
            _ => {
                let n = {
                    let mut served = SERVED.lock().unwrap();
                    *served += 1;
                    *served
                };
                let id = ID.lock().unwrap().clone();
                respond(
                    out,
                    200,
                    format!("hello from {id}: request {n}\n").as_bytes(),
                );
            }
        }
    }
}
