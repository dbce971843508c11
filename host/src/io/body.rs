//! Reading an HTTP body into memory with a size limit.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// More than the limit arrived.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The stream failed.
    #[error("reading the body failed: {0}")]
    Failed(String),
}

/// Reads `body` to its end, refusing more than `limit` bytes (trailers are dropped).
pub(crate) async fn collect_limited<B>(body: B, limit: u64) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    let mut first: Option<Bytes> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Failed(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let len = first.as_ref().map_or(0, Bytes::len) + buf.len() + data.len();
        if len as u64 > limit {
            return Err(BodyError::TooLarge { limit });
        }
        // One chunk (the common case) is passed on without a copy.
        match first.take() {
            None if buf.is_empty() => first = Some(data),
            None => buf.extend_from_slice(&data),
            Some(f) => {
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

/// Like [`collect_limited`], but past the limit keeps reading (and dropping) to the end, so a
/// writer on the other side is never left blocked; then returns [`BodyError::TooLarge`].
pub(crate) async fn collect_or_drain<B>(body: B, limit: u64) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    let mut over = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Failed(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if over || (buf.len() + data.len()) as u64 > limit {
            over = true;
            buf.clear();
            continue;
        }
        buf.extend_from_slice(&data);
    }
    if over {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(buf.freeze())
}
