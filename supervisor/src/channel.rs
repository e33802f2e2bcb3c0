//! The request socket, seen from the supervisor: decoded requests in, encoded responses out.
//!
//! Responses are written by a task of their own through a bounded queue, so that a runner that
//! stops reading cannot block the supervisor's loop (and with it the execution timeout, signals
//! and the server's "stop"): when [`MAX_UNREAD_RESPONSES`] answers wait unread, the runner is
//! breaking the protocol and is stopped.

use airlock_protocol::comms::{
    CodecError, DecodedRequest, FrameDecoder, FrameError, ResponseFrame, WireError, decode_request,
    encode_response,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

/// Answers that may wait for the runner to read them; one more is a protocol violation.
pub const MAX_UNREAD_RESPONSES: usize = 16;

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
    /// The runner does not read its answers.
    #[error("the runner left {MAX_UNREAD_RESPONSES} answers unread")]
    Backlog,
}

/// The supervisor's reading end of the request socket.
pub struct Requests {
    read: OwnedReadHalf,
    decoder: FrameDecoder,
    eof: bool,
}

/// The supervisor's writing end: a queue drained by a writer task.
pub struct Responses {
    queue: mpsc::Sender<ResponseFrame>,
}

/// How much to read at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Splits the socket, refusing request frames above `max_frame_bytes`, and starts the writer.
pub fn open(stream: UnixStream, max_frame_bytes: usize) -> (Requests, Responses) {
    let (read, write) = stream.into_split();
    let (queue, pending) = mpsc::channel(MAX_UNREAD_RESPONSES);
    tokio::spawn(write_responses(write, pending));
    (
        Requests {
            read,
            decoder: FrameDecoder::new(max_frame_bytes),
            eof: false,
        },
        Responses { queue },
    )
}

async fn write_responses(mut write: OwnedWriteHalf, mut pending: mpsc::Receiver<ResponseFrame>) {
    while let Some(frame) = pending.recv().await {
        let bytes = match encode_response(&frame) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, id = frame.id, "cannot encode a response");
                continue;
            }
        };
        if let Err(e) = write.write_all(&bytes).await {
            tracing::debug!(error = %e, "cannot answer the runner (it is gone)");
            return;
        }
    }
}

impl Requests {
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
}

impl Responses {
    /// Queues one answer without waiting. Fails with [`ChannelError::Backlog`] when the runner
    /// leaves too many answers unread; an answer to a runner that is gone is dropped.
    pub fn send(&self, frame: ResponseFrame) -> Result<(), ChannelError> {
        match self.queue.try_send(frame) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(ChannelError::Backlog),
        }
    }
}
