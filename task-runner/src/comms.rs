//! Blocking request/response over the request socket (fd 0).

use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;

use airlock_protocol::comms::{
    CodecError, DEFAULT_MAX_FRAME_LEN, ErrorResponse, FrameDecoder, FrameError, RequestFrame,
    StartupDetails, ToSupervisor, ToTask, decode_response, encode_request,
};

/// A failed exchange with the supervisor.
#[derive(Debug, thiserror::Error)]
pub enum CommsError {
    /// The socket failed or closed.
    #[error("supervisor channel: {0}")]
    Io(#[from] std::io::Error),
    /// A frame could not be encoded or decoded.
    #[error("supervisor channel: {0}")]
    Codec(#[from] CodecError),
    /// The byte stream is not a sequence of frames (too long, or cut off).
    #[error("supervisor channel: {0}")]
    Frame(#[from] FrameError),
    /// The supervisor answered with an error (its error slot).
    #[error("the supervisor reported an error: {0}")]
    Remote(ErrorResponse),
    /// The supervisor answered with something else than expected.
    #[error("unexpected message from the supervisor: {0}")]
    Unexpected(String),
    /// Fd 0 is not the supervisor's socket (the program was not started by a supervisor).
    #[error("fd 0 is not a socket: start runners through `supervisor run`")]
    NotSupervised,
}

static REQUEST_SOCKET_FD: std::sync::OnceLock<std::os::fd::RawFd> = std::sync::OnceLock::new();

/// The descriptor the request socket was moved to from fd 0, once [`SupervisorComms::from_stdin`]
/// has run (diagnostics and protocol tests that must bypass the client).
pub fn request_socket_fd() -> Option<std::os::fd::RawFd> {
    REQUEST_SOCKET_FD.get().copied()
}

/// The runner's end of the request socket.
pub struct SupervisorComms {
    stream: UnixStream,
    next_id: i64,
    frames: FrameDecoder,
}

impl SupervisorComms {
    /// Takes over fd 0, which the supervisor made the request socket.
    pub fn from_stdin() -> Result<Self, CommsError> {
        use std::os::unix::fs::FileTypeExt;
        // SAFETY: fd 0 is open for the life of the process; ManuallyDrop keeps it open here.
        let probe = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
        let is_socket = probe.metadata().is_ok_and(|m| m.file_type().is_socket());
        if !is_socket {
            return Err(CommsError::NotSupervised);
        }
        // SAFETY: fd 0 is an open socket (checked above), owned by this process from now on.
        let inherited = unsafe { UnixStream::from_raw_fd(0) };
        // Move the socket to a close-on-exec descriptor and put /dev/null on fd 0: processes
        // the task starts must neither talk to the supervisor nor keep the channel open after
        // the task ends.
        let stream = inherited.try_clone()?;
        drop(inherited);
        let _ = REQUEST_SOCKET_FD.set(std::os::fd::AsRawFd::as_raw_fd(&stream));
        if let Ok(null) = std::fs::File::open("/dev/null") {
            // The lowest free descriptor, 0, now reads /dev/null for the life of the process.
            let _ = std::os::fd::IntoRawFd::into_raw_fd(null);
        }
        Ok(Self::new(stream))
    }

    /// Wraps an already connected socket (tests and embedding).
    pub fn new(stream: UnixStream) -> Self {
        Self {
            stream,
            next_id: 0,
            frames: FrameDecoder::new(DEFAULT_MAX_FRAME_LEN),
        }
    }

    /// The next frame, through the protocol's decoder (which refuses an oversized frame before
    /// reading or allocating its body).
    fn read_frame(&mut self) -> Result<airlock_protocol::comms::ResponseFrame, CommsError> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some(payload) = self.frames.next_frame()? {
                return Ok(decode_response(&payload)?);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                self.frames.finish()?;
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            self.frames.extend(&chunk[..n]);
        }
    }

    /// Reads the `StartupDetails` the supervisor sends first.
    pub fn receive_startup(&mut self) -> Result<StartupDetails, CommsError> {
        let frame = self.read_frame()?;
        match (frame.body, frame.error) {
            (_, Some(e)) => Err(CommsError::Remote(e)),
            (Some(ToTask::StartupDetails(s)), None) => Ok(*s),
            (other, None) => Err(CommsError::Unexpected(format!(
                "expected StartupDetails, got {}",
                other.map_or("nothing", |b| b.type_name())
            ))),
        }
    }

    /// Sends `msg` and waits for its answer (`None` for an empty answer). An answer in the
    /// error slot is [`CommsError::Remote`]; an `ErrorResponse` body is returned as a value.
    pub fn request(&mut self, msg: impl Into<ToSupervisor>) -> Result<Option<ToTask>, CommsError> {
        let id = self.next_id;
        self.next_id += 1;
        let bytes = encode_request(&RequestFrame {
            id,
            body: Some(msg.into()),
            context_carrier: None,
        })?;
        self.stream.write_all(&bytes)?;
        let frame = self.read_frame()?;
        if frame.id != id {
            return Err(CommsError::Unexpected(format!(
                "answer to request {} while waiting for {id}",
                frame.id
            )));
        }
        match frame.error {
            Some(e) => Err(CommsError::Remote(e)),
            None => Ok(frame.body),
        }
    }
}
