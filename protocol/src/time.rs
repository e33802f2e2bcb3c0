//! How datetimes and durations travel.
//!
//! Datetimes are UTC everywhere. In JSON (human-readable formats) they are RFC 3339 strings with a
//! `Z` suffix and microsecond precision, as Airflow writes them. In msgpack frames (not
//! human-readable) they are written as the msgpack timestamp extension (type −1), as Airflow's
//! msgspec encoder does, and read back from either the extension or an RFC 3339 string.
//!
//! Durations are ISO-8601 strings (`PT60S`) in both formats; a number of seconds is accepted too.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// A UTC datetime, as every Airlock component handles time.
pub type Timestamp = DateTime<Utc>;

/// The msgpack extension type of timestamps.
pub const MSGPACK_TIMESTAMP_EXT: i8 = -1;

/// The name rmp-serde gives the newtype struct that carries a msgpack extension.
const MSGPACK_EXT_STRUCT: &str = "_ExtStruct";

/// Earliest and latest year a datetime from a client or a frame may name. Chrono goes further
/// (±262 143), but arithmetic near its ends overflows: a bound far inside it means that adding
/// any accepted duration to any accepted date stays representable.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Longest duration a client or a frame may name (in either direction): 100 years.
pub const MAX_DURATION_SECS: i64 = 100 * 366 * 86_400;

/// Why a datetime or duration is refused at the boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutOfRange {
    /// A datetime outside [`YEARS`].
    #[error("datetime {0} is out of range: years 1 to 9999 only")]
    Datetime(String),
    /// A duration longer than [`MAX_DURATION_SECS`].
    #[error("duration {0} is out of range: at most 100 years")]
    Duration(String),
}

/// `dt` if its year is within [`YEARS`].
pub fn check_datetime(dt: DateTime<Utc>) -> Result<DateTime<Utc>, OutOfRange> {
    use chrono::Datelike;
    if YEARS.contains(&dt.year()) {
        Ok(dt)
    } else {
        Err(OutOfRange::Datetime(dt.to_rfc3339()))
    }
}

/// `d` if it is no longer than [`MAX_DURATION_SECS`] either way.
pub fn check_duration(d: TimeDelta) -> Result<TimeDelta, OutOfRange> {
    if d.num_seconds().unsigned_abs() <= MAX_DURATION_SECS as u64 {
        Ok(d)
    } else {
        Err(OutOfRange::Duration(format!("{}s", d.num_seconds())))
    }
}

/// Parses a duration flag: a non-negative number of seconds (`"5"`, `"0.25"`) or a duration
/// with units (`"30s"`, `"5m"`, `"1h30m"`, `"250ms"`), at most 100 years. Every binary's duration
/// flags go through this one parser.
pub fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    let text = s.trim();
    let d = match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v <= MAX_DURATION_SECS as f64 => {
            std::time::Duration::from_secs_f64(v)
        }
        Ok(_) => {
            return Err(format!(
                "{s:?} is not a number of seconds between 0 and 100 years"
            ));
        }
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{s:?} is not a duration (e.g. 30, 30s, 5m, 1h30m): {e}"))?,
    };
    if d.as_secs() > MAX_DURATION_SECS as u64 {
        return Err(format!("{s:?} is longer than 100 years"));
    }
    Ok(d)
}

/// Parses a duration flag like [`parse_secs`] and refuses zero (for intervals and timeouts,
/// where zero would mean spinning or never waiting).
pub fn parse_positive_secs(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_secs(s)?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// Formats a datetime the way the API writes it: RFC 3339, UTC, `Z`, microseconds when present.
pub fn to_rfc3339(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 datetime (any offset) into UTC.
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc))
}

/// Encodes a datetime as the payload of a msgpack timestamp extension (4, 8 or 12 bytes).
pub fn timestamp_ext_payload(dt: &DateTime<Utc>) -> Vec<u8> {
    let secs = dt.timestamp();
    let nanos = dt.timestamp_subsec_nanos();
    if nanos == 0 && (0..=u32::MAX as i64).contains(&secs) {
        (secs as u32).to_be_bytes().to_vec()
    } else if (0..(1i64 << 34)).contains(&secs) {
        (((nanos as u64) << 34) | secs as u64)
            .to_be_bytes()
            .to_vec()
    } else {
        let mut out = Vec::with_capacity(12);
        out.extend_from_slice(&nanos.to_be_bytes());
        out.extend_from_slice(&secs.to_be_bytes());
        out
    }
}

/// Decodes the payload of a msgpack timestamp extension.
pub fn timestamp_from_ext_payload(data: &[u8]) -> Option<DateTime<Utc>> {
    let (secs, nanos) = match data.len() {
        4 => (u32::from_be_bytes(data.try_into().ok()?) as i64, 0u32),
        8 => {
            let v = u64::from_be_bytes(data.try_into().ok()?);
            ((v & ((1u64 << 34) - 1)) as i64, (v >> 34) as u32)
        }
        12 => (
            i64::from_be_bytes(data[4..12].try_into().ok()?),
            u32::from_be_bytes(data[0..4].try_into().ok()?),
        ),
        _ => return None,
    };
    if nanos >= 1_000_000_000 {
        return None;
    }
    DateTime::from_timestamp(secs, nanos)
}

struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

fn serialize_datetime<S: Serializer>(dt: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&to_rfc3339(dt))
    } else {
        let payload = timestamp_ext_payload(dt);
        s.serialize_newtype_struct(
            MSGPACK_EXT_STRUCT,
            &(MSGPACK_TIMESTAMP_EXT, RawBytes(&payload)),
        )
    }
}

struct ExtBytes(Vec<u8>);

impl<'de> Deserialize<'de> for ExtBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExtBytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("extension bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ExtBytes, E> {
                Ok(ExtBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ExtBytes, E> {
                Ok(ExtBytes(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ExtBytes, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(ExtBytes(out))
            }
        }
        d.deserialize_any(V)
    }
}

struct DateTimeVisitor;

impl<'de> Visitor<'de> for DateTimeVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 datetime with an offset, or a msgpack timestamp")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let dt = parse_rfc3339(v).map_err(|e| E::custom(format!("invalid datetime {v:?}: {e}")))?;
        check_datetime(dt).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        let dt = DateTime::from_timestamp(v, 0)
            .ok_or_else(|| E::custom(OutOfRange::Datetime(format!("{v} (Unix seconds)"))))?;
        check_datetime(dt).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let v = i64::try_from(v).map_err(|_| E::custom("timestamp out of range"))?;
        self.visit_i64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if !v.is_finite() {
            return Err(E::custom("timestamp is not finite"));
        }
        let dt = DateTime::from_timestamp_micros((v * 1e6).round() as i64)
            .ok_or_else(|| E::custom(OutOfRange::Datetime(format!("{v} (Unix seconds)"))))?;
        check_datetime(dt).map_err(E::custom)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let (tag, ExtBytes(data)) = <(i8, ExtBytes)>::deserialize(d)?;
        if tag != MSGPACK_TIMESTAMP_EXT {
            return Err(de::Error::custom(format!(
                "msgpack extension {tag} is not a timestamp"
            )));
        }
        let dt = timestamp_from_ext_payload(&data)
            .ok_or_else(|| de::Error::custom("malformed msgpack timestamp"))?;
        check_datetime(dt).map_err(de::Error::custom)
    }
}

/// `#[serde(with = "airlock_protocol::time::ts")]` for `DateTime<Utc>` fields.
pub mod ts {
    use super::*;

    /// Serializes per the module docs.
    pub fn serialize<S: Serializer>(dt: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        serialize_datetime(dt, s)
    }

    /// Deserializes per the module docs.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        d.deserialize_any(DateTimeVisitor)
    }
}

/// `#[serde(with = "airlock_protocol::time::ts_opt")]` for `Option<DateTime<Utc>>` fields.
pub mod ts_opt {
    use super::*;

    /// Serializes per the module docs (`None` as null).
    pub fn serialize<S: Serializer>(dt: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match dt {
            Some(dt) => serialize_datetime(dt, s),
            None => s.serialize_none(),
        }
    }

    /// Deserializes per the module docs (null as `None`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        struct OptVisitor;
        impl<'de> Visitor<'de> for OptVisitor {
            type Value = Option<DateTime<Utc>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a datetime or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(DateTimeVisitor).map(Some)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                DateTimeVisitor.visit_str(v).map(Some)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                DateTimeVisitor.visit_i64(v).map(Some)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                DateTimeVisitor.visit_u64(v).map(Some)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                DateTimeVisitor.visit_f64(v).map(Some)
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Self::Value, D::Error> {
                DateTimeVisitor.visit_newtype_struct(d).map(Some)
            }
        }
        d.deserialize_any(OptVisitor)
    }
}

/// `#[serde(with = "airlock_protocol::time::ts_vec_opt")]` for `Option<Vec<DateTime<Utc>>>`.
pub mod ts_vec_opt {
    use super::*;

    struct Item(DateTime<Utc>);

    impl Serialize for Item {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize_datetime(&self.0, s)
        }
    }

    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(DateTimeVisitor).map(Item)
        }
    }

    /// Serializes each datetime per the module docs.
    pub fn serialize<S: Serializer>(
        v: &Option<Vec<DateTime<Utc>>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(items) => s.collect_seq(items.iter().map(|d| Item(*d))),
            None => s.serialize_none(),
        }
    }

    /// Deserializes each datetime per the module docs.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<DateTime<Utc>>>, D::Error> {
        let items = Option::<Vec<Item>>::deserialize(d)?;
        Ok(items.map(|v| v.into_iter().map(|i| i.0).collect()))
    }
}

/// A length of time that travels as an ISO-8601 duration string (`PT60S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct IsoDuration(pub TimeDelta);

/// Error returned for a malformed ISO-8601 duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ISO-8601 duration {0:?} (expected e.g. PT60S or P1DT2H, at most 100 years)")]
pub struct InvalidDuration(pub String);

impl IsoDuration {
    /// A duration of whole seconds; `None` beyond [`MAX_DURATION_SECS`].
    pub fn from_secs(secs: i64) -> Option<Self> {
        (secs.unsigned_abs() <= MAX_DURATION_SECS as u64).then(|| Self(TimeDelta::seconds(secs)))
    }

    /// A duration of fractional seconds; `None` if not finite or beyond [`MAX_DURATION_SECS`].
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        if !secs.is_finite() || secs.abs() > MAX_DURATION_SECS as f64 {
            return None;
        }
        Some(Self(TimeDelta::microseconds((secs * 1e6).round() as i64)))
    }

    /// The length in fractional seconds.
    pub fn as_secs_f64(&self) -> f64 {
        self.0
            .num_microseconds()
            .map_or(f64::MAX, |us| us as f64 / 1e6)
    }

    /// Parses `[-]PnW` or `[-]PnDTnHnMn.nS` (years and months are ambiguous and refused).
    pub fn parse(text: &str) -> Result<Self, InvalidDuration> {
        let bad = || InvalidDuration(text.to_owned());
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let rest = rest.strip_prefix('P').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        let mut micros: i128 = 0;
        let mut in_time = false;
        let mut number = String::new();
        let mut saw_component = false;
        let mut time_components = 0;
        for c in rest.chars() {
            match c {
                'T' if !in_time && number.is_empty() => in_time = true,
                '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
                unit => {
                    if number.is_empty() {
                        return Err(bad());
                    }
                    let value: f64 = number.parse().map_err(|_| bad())?;
                    let scale: f64 = match (in_time, unit) {
                        (false, 'W') => 7.0 * 86_400.0,
                        (false, 'D') => 86_400.0,
                        (true, 'H') => 3_600.0,
                        (true, 'M') => 60.0,
                        (true, 'S') => 1.0,
                        _ => return Err(bad()),
                    };
                    micros += (value * scale * 1e6).round() as i128;
                    number.clear();
                    saw_component = true;
                    time_components += usize::from(in_time);
                }
            }
        }
        if !number.is_empty() || !saw_component || (in_time && time_components == 0) {
            return Err(bad());
        }
        let micros = i64::try_from(if negative { -micros } else { micros }).map_err(|_| bad())?;
        let d = check_duration(TimeDelta::microseconds(micros)).map_err(|_| bad())?;
        Ok(Self(d))
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.num_microseconds().unwrap_or(i64::MAX);
        let sign = if micros < 0 { "-" } else { "" };
        let micros = micros.unsigned_abs();
        let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
        if frac == 0 {
            write!(f, "{sign}PT{secs}S")
        } else {
            let frac = format!("{frac:06}");
            write!(f, "{sign}PT{secs}.{}S", frac.trim_end_matches('0'))
        }
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IsoDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an ISO-8601 duration string or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IsoDuration, E> {
                IsoDuration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IsoDuration, E> {
                IsoDuration::from_secs(v)
                    .ok_or_else(|| E::custom(OutOfRange::Duration(format!("{v}s"))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IsoDuration, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(IsoDuration::from_secs)
                    .ok_or_else(|| E::custom(OutOfRange::Duration(format!("{v}s"))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<IsoDuration, E> {
                IsoDuration::from_secs_f64(v)
                    .ok_or_else(|| E::custom(OutOfRange::Duration(format!("{v}s"))))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(feature = "schema")]
impl utoipa::PartialSchema for IsoDuration {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::Custom(
                "duration".into(),
            )))
            .into()
    }
}

#[cfg(feature = "schema")]
impl utoipa::ToSchema for IsoDuration {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(with = "ts")]
        at: DateTime<Utc>,
        #[serde(with = "ts_opt", default)]
        maybe: Option<DateTime<Utc>>,
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn json_uses_rfc3339_with_z_and_micros() {
        let h = Holder {
            at: at("2026-11-23T18:10:14.022092+00:00"),
            maybe: None,
        };
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, r#"{"at":"2026-11-23T18:10:14.022092Z","maybe":null}"#);
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), h);
    }

    #[test]
    fn msgpack_uses_timestamp_ext_like_airflow() {
        // The reference's example: 2026-01-01T00:00:00Z encodes as d6 ff 69 55 b9 00.
        let bytes = rmp_serde::to_vec_named(&Holder {
            at: at("2026-01-01T00:00:00Z"),
            maybe: None,
        })
        .unwrap();
        let needle = [0xd6, 0xff, 0x69, 0x55, 0xb9, 0x00];
        assert!(bytes.windows(6).any(|w| w == needle), "{bytes:02x?}");
    }

    #[test]
    fn msgpack_round_trips_all_three_timestamp_widths() {
        for s in [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.123456Z",
            "1900-01-01T00:00:00.5Z",
        ] {
            let h = Holder {
                at: at(s),
                maybe: Some(at(s)),
            };
            let bytes = rmp_serde::to_vec_named(&h).unwrap();
            assert_eq!(rmp_serde::from_slice::<Holder>(&bytes).unwrap(), h, "{s}");
        }
    }

    #[test]
    fn msgpack_accepts_rfc3339_strings_too() {
        #[derive(Serialize)]
        struct AsStrings<'a> {
            at: &'a str,
            maybe: &'a str,
        }
        let bytes = rmp_serde::to_vec_named(&AsStrings {
            at: "2026-01-01T00:00:00Z",
            maybe: "2026-01-01T01:00:00+01:00",
        })
        .unwrap();
        let h: Holder = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(h.at, at("2026-01-01T00:00:00Z"));
        assert_eq!(h.maybe, Some(at("2026-01-01T00:00:00Z")));
    }

    #[test]
    fn duration_flags_take_seconds_or_units() {
        use std::time::Duration;
        assert_eq!(parse_secs("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_secs("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_secs("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_secs("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "-1", "NaN", "inf", "1e300", "soon", "200years"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn datetimes_outside_years_1_to_9999_are_refused() {
        for bad in [
            r#"{"at":"+262142-01-01T00:00:00Z"}"#,
            r#"{"at":"10000-01-01T00:00:00Z"}"#,
            r#"{"at":8210266876800}"#,
            r#"{"at":-62135596801}"#,
            r#"{"at":1e300}"#,
        ] {
            let err = serde_json::from_str::<Holder>(bad).unwrap_err().to_string();
            assert!(
                err.contains("out of range") || err.contains("invalid"),
                "{bad}: {err}"
            );
        }
        let ok: Holder = serde_json::from_str(r#"{"at":"9999-12-31T23:59:59Z"}"#).unwrap();
        assert_eq!(ok.at.to_rfc3339(), "9999-12-31T23:59:59+00:00");
        let far = DateTime::from_timestamp(253_402_300_800, 0).unwrap();
        let bytes = rmp_serde::to_vec_named(&Holder {
            at: far,
            maybe: None,
        })
        .unwrap();
        assert!(rmp_serde::from_slice::<Holder>(&bytes).is_err());
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(
            IsoDuration::parse("PT60S").unwrap(),
            IsoDuration::from_secs(60).unwrap()
        );
        assert_eq!(
            IsoDuration::parse("PT5M").unwrap(),
            IsoDuration::from_secs(300).unwrap()
        );
        assert_eq!(
            IsoDuration::parse("P1DT2H").unwrap(),
            IsoDuration::from_secs(93_600).unwrap()
        );
        assert_eq!(
            IsoDuration::parse("P1W").unwrap(),
            IsoDuration::from_secs(604_800).unwrap()
        );
        assert_eq!(IsoDuration::parse("PT0.5S").unwrap().as_secs_f64(), 0.5);
        assert_eq!(
            IsoDuration::parse("-PT1S").unwrap(),
            IsoDuration::from_secs(-1).unwrap()
        );
        for bad in ["", "P", "PT", "60", "P1Y", "PT1X", "P1H", "PTS", "P1DT"] {
            assert!(IsoDuration::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(IsoDuration::from_secs(60).unwrap().to_string(), "PT60S");
        assert_eq!(
            IsoDuration::from_secs_f64(1.25).unwrap().to_string(),
            "PT1.25S"
        );
        for far in ["P40000D", "PT1e20S", "-P40000D"] {
            assert!(IsoDuration::parse(far).is_err(), "{far}");
        }
        for far in ["1e13", "1e20", "-1e20", "9223372036854775807"] {
            assert!(serde_json::from_str::<IsoDuration>(far).is_err(), "{far}");
        }
        let d: IsoDuration = serde_json::from_str("30").unwrap();
        assert_eq!(d, IsoDuration::from_secs(30).unwrap());
    }
}
