//! Reading task logs for the control API, a piece at a time (so that `--follow` can poll).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Most bytes returned per read.
pub const MAX_CHUNK: usize = 1024 * 1024;

/// Reads whole lines of `path` from `offset`, at most `max` bytes (a single longer line is cut
/// at `max`). A missing file reads as empty. Returns the text and the offset after it.
pub fn read_chunk(path: &Path, offset: u64, max: usize) -> std::io::Result<(String, u64)> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        // No log there (and none can be: a path through a file is no directory).
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok((String::new(), offset));
        }
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if offset >= len {
        return Ok((String::new(), offset.min(len)));
    }
    file.seek(SeekFrom::Start(offset))?;
    let want = ((len - offset) as usize).min(max);
    let mut buf = vec![0u8; want];
    file.read_exact(&mut buf)?;
    // Whole lines only, unless one line alone is longer than `max`.
    let keep = match buf.iter().rposition(|b| *b == b'\n') {
        Some(i) => i + 1,
        None if want == max => want,
        None => 0,
    };
    buf.truncate(keep);
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok((text, offset + keep as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_lines_from_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        assert_eq!(read_chunk(&p, 0, 100).unwrap(), (String::new(), 0));
        std::fs::write(&p, "one\ntwo\nthr").unwrap();
        assert_eq!(read_chunk(&p, 0, 100).unwrap(), ("one\ntwo\n".into(), 8));
        assert_eq!(read_chunk(&p, 8, 100).unwrap(), (String::new(), 8));
        assert_eq!(read_chunk(&p, 0, 5).unwrap(), ("one\n".into(), 4));
        assert_eq!(read_chunk(&p, 8, 2).unwrap(), ("th".into(), 10));
        assert_eq!(read_chunk(&p, 99, 2).unwrap(), (String::new(), 11));
    }
}
