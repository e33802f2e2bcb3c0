//! The request socket, seen from the supervisor: decoded requests in, encoded responses out.

use airlock_protocol::comms::{
    CodecError, DecodedRequest, FrameDecoder, FrameError, ResponseFrame, WireError, decode_request,
    encode_response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// Why the channel cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The byte stream is not a sequence of frames (too large, or cut off at EOF).
    #[error("bad frame from the runner: {0}")]
    Frame(#[from] FrameError),
    /// A frame is not a well-formed msgpack request.
    #[error("malformed request frame from the runner: {0}")]
    Wire(#[from] WireError),
    /// A response could not be encoded.
    #[error("cannot encode a response: {0}")]
    Encode(#[from] CodecError),
    /// The socket failed.
    #[error("request socket: {0}")]
    Io(#[from] std::io::Error),
}

/// The supervisor's end of the request socket.
pub struct RunnerChannel {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    decoder: FrameDecoder,
    eof: bool,
}

/// How much to read at a time.
const READ_CHUNK: usize = 16 * 1024;

impl RunnerChannel {
    /// Wraps the socket, refusing frames above `max_frame_bytes`.
    pub fn new(stream: UnixStream, max_frame_bytes: usize) -> Self {
        let (read, write) = stream.into_split();
        Self {
            read,
            write,
            decoder: FrameDecoder::new(max_frame_bytes),
            eof: false,
        }
    }

    /// The next request; `None` at a clean end of stream. Cancel-safe: bytes read before a
    /// cancellation stay buffered.
    pub async fn next(&mut self) -> Result<Option<DecodedRequest>, ChannelError> {
        loop {
            if let Some(payload) = self.decoder.next_frame()? {
                return Ok(Some(decode_request(&payload)?));
            }
            if self.eof {
                self.decoder.finish()?;
                return Ok(None);
            }
            let buf = self.decoder.buffer_mut();
            if buf.capacity() - buf.len() < READ_CHUNK {
                buf.reserve(READ_CHUNK);
            }
            if self.read.read_buf(buf).await? == 0 {
                self.eof = true;
            }
        }
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &ResponseFrame) -> Result<(), ChannelError> {
        let bytes = encode_response(frame)?;
        self.write.write_all(&bytes).await?;
        Ok(())
    }
}
