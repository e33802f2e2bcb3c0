//! Framing: a 4-byte big-endian length, then that many bytes of msgpack.
//!
//! [`FrameDecoder`] is incremental (feed it any split of the stream) and refuses a frame whose
//! announced length exceeds its limit as soon as the 4 length bytes arrive, before reading or
//! allocating the body.

use bytes::{Buf, BytesMut};

/// Default limit on one frame's payload: 16 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Why the byte stream is not a sequence of frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame announced more bytes than allowed.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({have} of {need} bytes received)")]
    Truncated {
        /// Bytes needed to complete the frame (including the length prefix).
        need: usize,
        /// Bytes received.
        have: usize,
    },
    /// The payload cannot be framed (≥ 4 GiB).
    #[error("payload of {0} bytes cannot be framed (limit 4 GiB)")]
    Unframeable(usize),
}

/// Prefixes `payload` with its length.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::Unframeable(payload.len()))?;
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Splits a byte stream into frame payloads.
#[derive(Debug)]
pub struct FrameDecoder {
    max: usize,
    buf: BytesMut,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            buf: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// The limit.
    pub fn max_frame_len(&self) -> usize {
        self.max
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The buffer to read into directly (with [`bytes::BufMut`] / `read_buf`).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Takes the next complete frame's payload, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<BytesMut>, FrameError> {
        decode_frame(&mut self.buf, self.max)
    }

    /// Call at end of stream: an error if a frame was left incomplete.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let need = if self.buf.len() < 4 {
            4
        } else {
            4 + u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize
        };
        Err(FrameError::Truncated {
            need,
            have: self.buf.len(),
        })
    }
}

/// Takes one frame off the front of `buf` if complete; the core of every decoder here.
pub fn decode_frame(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > max {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max,
        });
    }
    if buf.len() < 4 + len {
        // Reserve only what this (bounded) frame still needs.
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split_anywhere() {
        let a = encode_frame(b"hello").unwrap();
        let b = encode_frame(b"").unwrap();
        let c = encode_frame(&[7u8; 300]).unwrap();
        let stream: Vec<u8> = [a, b, c].concat();
        for split in 0..=stream.len() {
            let mut d = FrameDecoder::new(1024);
            let mut got = Vec::new();
            for chunk in [&stream[..split], &stream[split..]] {
                d.extend(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f.to_vec());
                }
            }
            d.finish().unwrap();
            assert_eq!(
                got,
                vec![b"hello".to_vec(), vec![], vec![7u8; 300]],
                "split at {split}"
            );
        }
    }

    #[test]
    fn refuses_oversized_frames_before_reading_them() {
        let mut d = FrameDecoder::new(1024);
        d.extend(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                len: u32::MAX as u64,
                max: 1024
            })
        );
        assert!(
            d.buffer_mut().capacity() < 64 * 1024,
            "the claimed 4 GiB was never allocated"
        );
    }

    #[test]
    fn reports_truncation_at_end_of_stream() {
        let mut d = FrameDecoder::new(1024);
        d.extend(&[0, 0, 0, 5, 1, 2]);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.finish(), Err(FrameError::Truncated { need: 9, have: 6 }));
        let mut d = FrameDecoder::new(1024);
        d.extend(&[0, 0]);
        assert_eq!(d.finish(), Err(FrameError::Truncated { need: 4, have: 2 }));
    }
}
