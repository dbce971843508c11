//! `wasi-probe`: a `wasm32-wasip2` actor that does what a request tells it with plain `std`
//! (files, environment) and the `wasip2` crate's `wasi:http/outgoing-handler`, and answers
//! what happened, for the `filesystem`, `environment` and `http-client` handlers' tests.
//!
//! Requests (UTF-8), answered `ok <result>` or `err <error>`:
//! - `read PATH`, `write PATH DATA`, `append PATH DATA`, `ls PATH`, `mkdir PATH`, `rm PATH`;
//! - `env` (every variable as `K=V` lines), `var NAME`;
//! - `get URL`, `post URL BODY` (`http://host:port/path`): the status and the body;
//! - `connect HOST:PORT`: a raw TCP connection with `std::net` (`wasi:sockets`);
//! - `sleep MS`: blocks in `wasi:clocks` for MS milliseconds (a host call, for deadlines).

wit_bindgen::generate!({ world: "message-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;
use exports::theater::simple::message_server_client::{
    ChannelAccept, Guest as MessageServerClient,
};
use std::io::{Read as _, Write as _};
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

struct Probe;

export!(Probe);

type State = Option<Vec<u8>>;

impl Actor for Probe {
    fn init(state: State, _: (String,)) -> Result<(State,), String> {
        Ok((state,))
    }
}

fn fs(r: std::io::Result<String>) -> Result<String, String> {
    r.map_err(|e| format!("{:?}: {e}", e.kind()))
}

fn run(cmd: &str) -> Result<String, String> {
    let (verb, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let (arg, data) = rest.split_once(' ').unwrap_or((rest, ""));
    match verb {
        "read" => fs(std::fs::read_to_string(arg)),
        "write" => fs(std::fs::write(arg, data).map(|()| "written".into())),
        "append" => fs(std::fs::OpenOptions::new()
            .append(true)
            .open(arg)
            .and_then(|mut f| f.write_all(data.as_bytes()))
            .map(|()| "appended".into())),
        "ls" => fs(std::fs::read_dir(arg).and_then(|entries| {
            let mut names = entries
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<std::io::Result<Vec<_>>>()?;
            names.sort();
            Ok(names.join(","))
        })),
        "mkdir" => fs(std::fs::create_dir(arg).map(|()| "created".into())),
        "rm" => fs(std::fs::remove_file(arg).map(|()| "removed".into())),
        "env" => Ok(std::env::vars()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n")),
        "var" => std::env::var(arg).map_err(|e| e.to_string()),
        // Blocks in a WASI host call (`wasi:clocks` subscribe + block) for ARG ms.
        "sleep" => {
            let ms: u64 = arg.parse().map_err(|_| format!("sleep wants ms, not `{arg}`"))?;
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Ok(format!("slept {ms} ms"))
        }
        "get" => http(Method::Get, arg, b""),
        "post" => http(Method::Post, arg, data.as_bytes()),
        "connect" => fs(std::net::TcpStream::connect(arg).map(|_| "connected".into())),
        other => Err(format!("unknown command `{other}`")),
    }
}

/// One request through `wasi:http/outgoing-handler`: `200 <body>` or the error code.
fn http(method: Method, url: &str, body: &[u8]) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs, not `{url}`"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let req = OutgoingRequest::new(Fields::new());
    req.set_method(&method).map_err(|()| "bad method")?;
    req.set_scheme(Some(&Scheme::Http))
        .map_err(|()| "bad scheme")?;
    req.set_authority(Some(authority))
        .map_err(|()| format!("bad authority `{authority}`"))?;
    req.set_path_with_query(Some(path))
        .map_err(|()| format!("bad path `{path}`"))?;
    let outgoing = req.body().map_err(|()| "no body")?;
    let future = wasip2::http::outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
    // A refused request closes the body stream early: what the response future says wins.
    let sent = (|| {
        let mut stream = outgoing
            .write()
            .map_err(|()| "no body stream".to_string())?;
        stream.write_all(body).map_err(|e| e.to_string())?;
        stream.flush().map_err(|e| e.to_string())
    })();
    let finished = OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"));
    future.subscribe().block();
    let resp = future
        .get()
        .ok_or("no response after the pollable was ready")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    sent?;
    finished?;
    let status = resp.status();
    let incoming = resp.consume().map_err(|()| "no response body")?;
    let mut bytes = Vec::new();
    {
        let mut stream = incoming.stream().map_err(|()| "no response stream")?;
        stream.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}

impl MessageServerClient for Probe {
    fn handle_send(state: State, _: (Vec<u8>,)) -> Result<(State,), String> {
        Ok((state,))
    }

    fn handle_request(
        state: State,
        (_, msg): (String, Vec<u8>),
    ) -> Result<(State, (Option<Vec<u8>>,)), String> {
        let cmd = String::from_utf8_lossy(&msg);
        let answer = match run(&cmd) {
            Ok(s) => format!("ok {s}"),
            Err(e) => format!("err {e}"),
        };
        Ok((state, (Some(answer.into_bytes()),)))
    }

    fn handle_channel_open(
        s: State,
        _: (String, Vec<u8>),
    ) -> Result<(State, (ChannelAccept,)), String> {
        Ok((
            s,
            (ChannelAccept {
                accepted: false,
                message: None,
            },),
        ))
    }

    fn handle_channel_message(s: State, _: (String, Vec<u8>)) -> Result<(State,), String> {
        Ok((s,))
    }

    fn handle_channel_close(s: State, _: (String,)) -> Result<(State,), String> {
        Ok((s,))
    }
}
