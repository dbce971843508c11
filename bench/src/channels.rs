//! Channel figures (CONTRACT §7) next to the request round trip: one-way latency of a channel
//! message between two `peer` actors (a ping-pong over one channel, each hop one
//! `send-on-channel` and one `handle-channel-message`) and the throughput of a burst on one
//! channel, each with its ratio against the request round trip measured in the same run.

use super::{Bench, Figure, progress, scalar};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::{Duration, Instant};

/// Spawns two peers under the bench root, opens a channel and measures it. `req_us` is the
/// request round trip of this run (mean and p50, µs); `hops` the ping-pong's one-way messages; `burst`
/// the messages of the throughput run (below the mailbox capacity).
pub(crate) async fn figures(
    b: &Bench,
    fx_dir: &Path,
    root: &Path,
    req_us: (f64, f64),
    hops: usize,
    burst: usize,
) -> Result<Vec<Figure>> {
    let peer = root.join("target/actors/peer.wasm");
    if !peer.exists() {
        bail!("{} is missing: run `just guests` first", peer.display());
    }
    std::fs::write(
        fx_dir.join("peer.toml"),
        format!(
            "name = \"peer\"\ncomponent = \"{}\"\n[[handler]]\ntype = \"message-server\"\n",
            peer.display()
        ),
    )?;
    progress(&format!(
        "channels: ping-pong of {hops} one-way messages, burst of {burst}, between two actors"
    ));
    let before = b.system.actor(&b.root).context("root")?.children.len();
    b.cmd("spawn-n 2 peer.toml").await?;
    let kids = b.system.actor(&b.root).context("root")?.children;
    let (a, z) = (kids[before].clone(), kids[before + 1].clone());
    let ch = b.cmd_to(&a, &format!("open {z} bench")).await?[3..].to_string();

    // Warm-up, then the ping-pong: `pingpong <ch> k` runs k round trips (2k one-way hops).
    let round_trips = (hops / 2).max(1);
    pingpong(b, &a, &ch, 50).await?;
    let t0 = Instant::now();
    pingpong(b, &a, &ch, round_trips).await?;
    let one_way_us = t0.elapsed().as_secs_f64() * 1e6 / (2 * round_trips) as f64;

    // Throughput: one call sends the burst; the count request waits behind it in the
    // receiver's mailbox, so it answers once every message was handled.
    let base = count(b, &z).await?;
    let t0 = Instant::now();
    b.cmd_to(&a, &format!("burst {ch} {burst}")).await?;
    let got = count(b, &z).await? - base;
    let secs = t0.elapsed().as_secs_f64();
    if got != burst as u64 {
        bail!("the burst delivered {got} of {burst} messages");
    }
    let per_s = burst as f64 / secs;
    let (req_mean, req_p50) = req_us;
    let req_per_s = 1e6 / req_mean;
    b.cmd_to(&a, &format!("close {ch}")).await?;
    // Gone again, so the later figures see the bench root's children as before.
    for id in [&a, &z] {
        b.system.stop_actor(id).await?;
    }
    Ok(vec![
        scalar(
            "channel message one-way latency (ping-pong, mean)",
            "µs",
            one_way_us,
            2 * round_trips,
            None,
        ),
        scalar(
            "channel one-way / request round trip (means)",
            "×",
            one_way_us / req_mean,
            2 * round_trips,
            None,
        ),
        scalar(
            "channel one-way (mean) / request round trip (p50)",
            "×",
            one_way_us / req_p50,
            2 * round_trips,
            None,
        ),
        scalar(
            "channel throughput (one channel, burst)",
            "msg/s",
            per_s,
            burst,
            None,
        ),
        scalar(
            "channel throughput / sequential requests (1 / mean round trip)",
            "×",
            per_s / req_per_s,
            burst,
            None,
        ),
    ])
}

async fn pingpong(b: &Bench, a: &str, ch: &str, round_trips: usize) -> Result<()> {
    b.cmd_to(a, &format!("pingpong {ch} {round_trips}")).await?;
    while b.cmd_to(a, "done").await? != "ok yes" {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

async fn count(b: &Bench, peer: &str) -> Result<u64> {
    let r = b.cmd_to(peer, "count").await?;
    r[3..].parse().context("count")
}
