//! Serializing message bodies as Airflow does: a map of the struct's fields with the `type`
//! discriminator where Airflow's class declares it. Pydantic dumps fields in declaration order,
//! and most message classes declare `type` after the fields they inherit ([`TypeAt::Last`]); a
//! few declare it first or between fields.

use serde::ser::{self, Impossible, Serialize, SerializeStruct, Serializer};

/// Where the `type` entry goes among a body's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeAt {
    /// Before every field.
    First,
    /// Right after the named field.
    After(&'static str),
    /// After every field (most messages).
    Last,
}

/// Serializes `value` (a struct) with a trailing `"type": tag` entry.
pub fn serialize_with_type<T: Serialize + ?Sized, S: Serializer>(
    value: &T,
    tag: &'static str,
    s: S,
) -> Result<S::Ok, S::Error> {
    serialize_with_type_at(value, tag, TypeAt::Last, s)
}

/// Serializes `value` (a struct) with a `"type": tag` entry at `at`.
pub fn serialize_with_type_at<T: Serialize + ?Sized, S: Serializer>(
    value: &T,
    tag: &'static str,
    at: TypeAt,
    s: S,
) -> Result<S::Ok, S::Error> {
    value.serialize(AppendType { inner: s, tag, at })
}

struct AppendType<S> {
    inner: S,
    tag: &'static str,
    at: TypeAt,
}

/// The `SerializeStruct` that writes `type` where it belongs.
pub struct AppendTypeStruct<S> {
    inner: S,
    tag: &'static str,
    at: TypeAt,
    written: bool,
}

impl<S: SerializeStruct> AppendTypeStruct<S> {
    fn write_type(&mut self) -> Result<(), S::Error> {
        if !self.written {
            self.written = true;
            self.inner.serialize_field("type", self.tag)?;
        }
        Ok(())
    }
}

impl<S: SerializeStruct> SerializeStruct for AppendTypeStruct<S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        if self.at == TypeAt::First {
            self.write_type()?;
        }
        self.inner.serialize_field(key, value)?;
        if self.at == TypeAt::After(key) {
            self.write_type()?;
        }
        Ok(())
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.inner.skip_field(key)
    }

    fn end(mut self) -> Result<S::Ok, S::Error> {
        self.write_type()?;
        self.inner.end()
    }
}

fn not_a_struct<E: ser::Error>() -> E {
    E::custom("message bodies must be structs")
}

macro_rules! refuse {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $arg),*) -> Result<S::Ok, S::Error> { Err(not_a_struct()) })*
    };
}

impl<S: Serializer> Serializer for AppendType<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStruct = AppendTypeStruct<S::SerializeStruct>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Ok(AppendTypeStruct {
            inner: self.inner.serialize_struct(name, len + 1)?,
            tag: self.tag,
            at: self.at,
            written: false,
        })
    }

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(not_a_struct())
    }
}

/// Declares a message union: a serde-tagged enum over body structs that serializes each body
/// with `type` last (see [`serialize_with_type`]) and deserializes by `type` in any position.
macro_rules! message_union {
    (
        $(#[$emeta:meta])*
        pub enum $enum:ident {
            $( $(#[$vmeta:meta])* $variant:ident($ty:ty) $(@ $at:expr)? ),* $(,)?
        }
    ) => {
        $(#[$emeta])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
        #[serde(tag = "type")]
        pub enum $enum {
            $( $(#[$vmeta])* $variant($ty), )*
        }

        impl serde::Serialize for $enum {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( $enum::$variant(m) => {
                        #[allow(unused_variables)]
                        let at = $crate::comms::tagged::TypeAt::Last;
                        $( let at = $at; )?
                        $crate::comms::tagged::serialize_with_type_at(m, stringify!($variant), at, s)
                    } )*
                }
            }
        }

        impl $enum {
            /// The `type` discriminator of this body.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $( $enum::$variant(_) => stringify!($variant), )*
                }
            }
        }
    };
}
pub(crate) use message_union;
