//! Low-level msgpack reading: splitting a frame's top-level array into its elements without
//! decoding (or allocating) them, so that a bad body can still be answered by id.

use rmp::Marker;

/// Deepest nesting accepted inside a frame (deeper input is refused, not recursed into).
pub const MAX_DEPTH: usize = 512;

/// Why bytes are not a well-formed msgpack frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes end inside a value.
    #[error("msgpack value truncated at byte {0}")]
    Truncated(usize),
    /// A marker msgpack reserves.
    #[error("reserved msgpack marker 0xc1 at byte {0}")]
    Reserved(usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("msgpack nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    /// The frame is not an array.
    #[error("a frame must be a msgpack array, found marker {0:#04x}")]
    NotAnArray(u8),
    /// The frame's array has too few elements.
    #[error("a frame needs at least {min} elements, found {found}")]
    TooShort {
        /// Required.
        min: usize,
        /// Present.
        found: usize,
    },
    /// The id is not an integer.
    #[error("a frame id must be an integer")]
    BadId,
    /// Bytes follow the frame's array.
    #[error("{0} unexpected bytes after the frame")]
    Trailing(usize),
}

fn take(buf: &[u8], pos: &mut usize, n: usize) -> Result<(), WireError> {
    let end = pos
        .checked_add(n)
        .filter(|e| *e <= buf.len())
        .ok_or(WireError::Truncated(*pos))?;
    *pos = end;
    Ok(())
}

fn read_be(buf: &[u8], pos: &mut usize, n: usize) -> Result<u64, WireError> {
    let start = *pos;
    take(buf, pos, n)?;
    Ok(buf[start..*pos]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Advances `pos` past one msgpack value.
pub fn skip_value(buf: &[u8], pos: &mut usize, depth: usize) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    let at = *pos;
    let byte = *buf.get(at).ok_or(WireError::Truncated(at))?;
    *pos += 1;
    let (items, bytes) = match Marker::from_u8(byte) {
        Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
            (0, 0)
        }
        Marker::U8 | Marker::I8 => (0, 1),
        Marker::U16 | Marker::I16 => (0, 2),
        Marker::U32 | Marker::I32 | Marker::F32 => (0, 4),
        Marker::U64 | Marker::I64 | Marker::F64 => (0, 8),
        Marker::FixStr(n) => (0, u64::from(n)),
        Marker::Str8 | Marker::Bin8 => (0, read_be(buf, pos, 1)?),
        Marker::Str16 | Marker::Bin16 => (0, read_be(buf, pos, 2)?),
        Marker::Str32 | Marker::Bin32 => (0, read_be(buf, pos, 4)?),
        Marker::FixArray(n) => (u64::from(n), 0),
        Marker::Array16 => (read_be(buf, pos, 2)?, 0),
        Marker::Array32 => (read_be(buf, pos, 4)?, 0),
        Marker::FixMap(n) => (2 * u64::from(n), 0),
        Marker::Map16 => (2 * read_be(buf, pos, 2)?, 0),
        Marker::Map32 => (2 * read_be(buf, pos, 4)?, 0),
        Marker::FixExt1 => (0, 2),
        Marker::FixExt2 => (0, 3),
        Marker::FixExt4 => (0, 5),
        Marker::FixExt8 => (0, 9),
        Marker::FixExt16 => (0, 17),
        Marker::Ext8 => (0, read_be(buf, pos, 1)? + 1),
        Marker::Ext16 => (0, read_be(buf, pos, 2)? + 1),
        Marker::Ext32 => (0, read_be(buf, pos, 4)? + 1),
        Marker::Reserved => return Err(WireError::Reserved(at)),
    };
    take(
        buf,
        pos,
        usize::try_from(bytes).map_err(|_| WireError::Truncated(at))?,
    )?;
    for _ in 0..items {
        skip_value(buf, pos, depth + 1)?;
    }
    Ok(())
}

/// A frame split into its id and the raw bytes of its other elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameParts<'a> {
    /// The request id.
    pub id: i64,
    /// Raw msgpack of the elements after the id, in order.
    pub rest: Vec<&'a [u8]>,
}

/// Splits the payload of a frame (`[id, ...]`), requiring at least `min` elements. Extra
/// elements are kept (and ignored by callers), as Airflow's decoder does.
pub fn split_frame(payload: &[u8], min: usize) -> Result<FrameParts<'_>, WireError> {
    let marker = *payload.first().ok_or(WireError::Truncated(0))?;
    let mut pos = 1;
    let len = match Marker::from_u8(marker) {
        Marker::FixArray(n) => usize::from(n),
        Marker::Array16 => read_be(payload, &mut pos, 2)? as usize,
        Marker::Array32 => read_be(payload, &mut pos, 4)? as usize,
        _ => return Err(WireError::NotAnArray(marker)),
    };
    if len < min {
        return Err(WireError::TooShort { min, found: len });
    }
    let id_start = pos;
    skip_value(payload, &mut pos, 1)?;
    let id: i64 = rmp_serde::from_slice(&payload[id_start..pos]).map_err(|_| WireError::BadId)?;
    let mut rest = Vec::with_capacity(len.saturating_sub(1).min(8));
    for _ in 1..len {
        let start = pos;
        skip_value(payload, &mut pos, 1)?;
        rest.push(&payload[start..pos]);
    }
    if pos != payload.len() {
        return Err(WireError::Trailing(payload.len() - pos));
    }
    Ok(FrameParts { id, rest })
}

/// Whether raw msgpack bytes are `nil`.
pub fn is_nil(raw: &[u8]) -> bool {
    raw == [0xc0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_skips_every_kind_of_value() {
        let value = serde_json::json!({"a": [1, -1, 300, -300, 70000, 1.5, null, true, "x"], "b": {"c": "yy"}});
        let body = rmp_serde::to_vec_named(&value).unwrap();
        let mut frame = vec![0x93, 0x07];
        frame.extend_from_slice(&body);
        frame.push(0xc0);
        let parts = split_frame(&frame, 2).unwrap();
        assert_eq!(parts.id, 7);
        assert_eq!(parts.rest, vec![&body[..], &[0xc0][..]]);
    }

    #[test]
    fn refuses_bad_frames() {
        assert_eq!(
            split_frame(&[0x81, 0x01, 0x02], 2),
            Err(WireError::NotAnArray(0x81))
        );
        assert_eq!(
            split_frame(&[0x91, 0x01], 2),
            Err(WireError::TooShort { min: 2, found: 1 })
        );
        assert_eq!(
            split_frame(&[0x92, 0xa1, b'x', 0xc0], 2),
            Err(WireError::BadId)
        );
        assert!(matches!(
            split_frame(&[0x92, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff], 2),
            Err(WireError::Truncated(_))
        ));
        assert_eq!(
            split_frame(&[0x92, 0x01, 0xc1], 2),
            Err(WireError::Reserved(2))
        );
        assert_eq!(
            split_frame(&[0x92, 0x01, 0xc0, 0xc0], 2),
            Err(WireError::Trailing(1))
        );
        let mut deep = vec![0x92, 0x01];
        deep.extend(std::iter::repeat_n(0x91, 10_000));
        deep.push(0xc0);
        assert_eq!(split_frame(&deep, 2), Err(WireError::TooDeep));
    }
}
