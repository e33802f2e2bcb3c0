//! The supervisor ⇄ task-runner channel, byte-compatible with Airflow's Task SDK 1.3.
//!
//! A frame is a 4-byte big-endian length and a msgpack array ([`frame`]): requests are
//! `[id, body, context_carrier]`, responses `[id, body, error]`. Bodies are maps whose `type`
//! names the message ([`ToSupervisor`], [`ToTask`]). Datetimes travel as msgpack timestamps and
//! durations as ISO-8601 strings ([`crate::time`]).
//!
//! Adding a message: write its struct (Airflow's field names and order) in `to_supervisor.rs` or
//! `to_task.rs`, add it to the union there, and add a golden fixture in `fixtures.rs`.

#[cfg(test)]
mod fixtures;
pub mod frame;
pub mod tagged;
mod to_supervisor;
mod to_task;
pub mod wire;

use std::collections::BTreeMap;

pub use frame::{DEFAULT_MAX_FRAME_LEN, FrameDecoder, FrameError, decode_frame, encode_frame};
pub use to_supervisor::*;
pub use to_task::*;
pub use wire::WireError;

use serde::Serialize;

/// A request from the runner.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFrame {
    /// Request id (the runner counts from 0).
    pub id: i64,
    /// The request.
    pub body: Option<ToSupervisor>,
    /// W3C trace context (`traceparent`, `tracestate`).
    pub context_carrier: Option<BTreeMap<String, String>>,
}

/// A response (or the unsolicited `StartupDetails`, id 0) from the supervisor.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseFrame {
    /// The id of the request answered.
    pub id: i64,
    /// The answer, if any.
    pub body: Option<ToTask>,
    /// An error the runner should raise.
    pub error: Option<ErrorResponse>,
}

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The frame structure is wrong.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A body does not match any message, or a field is invalid.
    #[error("invalid message body: {0}")]
    Body(String),
    /// Encoding failed (a value msgpack cannot carry).
    #[error("cannot encode message: {0}")]
    Encode(String),
    /// The encoded frame is too large to frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// A request whose frame is well-formed; its body may still be undecodable, in which case the
/// supervisor can answer the id with an error instead of leaving the runner waiting.
#[derive(Debug)]
pub struct DecodedRequest {
    /// Request id.
    pub id: i64,
    /// The body, or why it could not be decoded.
    pub body: Result<Option<ToSupervisor>, CodecError>,
    /// W3C trace context, when present and well-formed.
    pub context_carrier: Option<BTreeMap<String, String>>,
}

fn body_error(e: rmp_serde::decode::Error) -> CodecError {
    CodecError::Body(e.to_string())
}

/// Decodes a request payload (without its length prefix).
pub fn decode_request(payload: &[u8]) -> Result<DecodedRequest, WireError> {
    let parts = wire::split_frame(payload, 2)?;
    let raw_body = parts.rest[0];
    let body = if wire::is_nil(raw_body) {
        Ok(None)
    } else {
        rmp_serde::from_slice::<ToSupervisor>(raw_body)
            .map(Some)
            .map_err(body_error)
    };
    let context_carrier = parts
        .rest
        .get(1)
        .filter(|raw| !wire::is_nil(raw))
        .and_then(|raw| rmp_serde::from_slice(raw).ok());
    Ok(DecodedRequest {
        id: parts.id,
        body,
        context_carrier,
    })
}

/// Decodes a response payload (without its length prefix).
pub fn decode_response(payload: &[u8]) -> Result<ResponseFrame, CodecError> {
    let parts = wire::split_frame(payload, 1)?;
    let decode =
        |i: usize| -> Option<&[u8]> { parts.rest.get(i).copied().filter(|raw| !wire::is_nil(raw)) };
    let body = decode(0)
        .map(rmp_serde::from_slice::<ToTask>)
        .transpose()
        .map_err(body_error)?;
    let error = decode(1)
        .map(rmp_serde::from_slice::<ErrorResponse>)
        .transpose()
        .map_err(body_error)?;
    Ok(ResponseFrame {
        id: parts.id,
        body,
        error,
    })
}

/// Writes msgpack with structs as maps (Airflow's bodies are maps).
fn write_value<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), CodecError> {
    let mut ser = rmp_serde::Serializer::new(out).with_struct_map();
    value
        .serialize(&mut ser)
        .map_err(|e| CodecError::Encode(e.to_string()))
}

fn write_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

fn start_frame(len: u32, id: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&[0, 0, 0, 0]);
    // Writing to a Vec cannot fail.
    let _ = rmp::encode::write_array_len(&mut out, len);
    let _ = rmp::encode::write_sint(&mut out, id);
    out
}

fn finish_frame(mut out: Vec<u8>) -> Result<Vec<u8>, CodecError> {
    let len = out.len() - 4;
    let len32 = u32::try_from(len).map_err(|_| FrameError::Unframeable(len))?;
    out[..4].copy_from_slice(&len32.to_be_bytes());
    Ok(out)
}

/// Encodes a request frame, length prefix included.
pub fn encode_request(frame: &RequestFrame) -> Result<Vec<u8>, CodecError> {
    let mut out = start_frame(3, frame.id);
    match &frame.body {
        Some(body) => write_value(&mut out, body)?,
        None => write_nil(&mut out),
    }
    match &frame.context_carrier {
        Some(c) => write_value(&mut out, c)?,
        None => write_nil(&mut out),
    }
    finish_frame(out)
}

/// Encodes a response frame, length prefix included. The error slot carries
/// `"type": "ErrorResponse"`, as Airflow writes it.
pub fn encode_response(frame: &ResponseFrame) -> Result<Vec<u8>, CodecError> {
    let mut out = start_frame(3, frame.id);
    match &frame.body {
        Some(body) => write_value(&mut out, body)?,
        None => write_nil(&mut out),
    }
    match &frame.error {
        Some(err) => {
            let mut ser = rmp_serde::Serializer::new(&mut out).with_struct_map();
            tagged::serialize_with_type(err, "ErrorResponse", &mut ser)
                .map_err(|e| CodecError::Encode(e.to_string()))?;
        }
        None => write_nil(&mut out),
    }
    finish_frame(out)
}
