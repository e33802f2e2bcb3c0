//! A small builder for statements whose shape depends on optional filters.
//!
//! sqlx's `QueryBuilder` writes `?` placeholders for the `Any` driver, which PostgreSQL refuses;
//! this one writes `$n`, which both backends accept.

use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Encode, Type};

/// A statement under construction plus its bound arguments.
#[derive(Default)]
pub struct Sql {
    text: String,
    args: AnyArguments,
    count: usize,
}

impl Sql {
    /// Starts a statement.
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            ..Self::default()
        }
    }

    /// Appends literal SQL.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: for<'q> Encode<'q, Any> + Type<Any>,
    {
        self.count += 1;
        self.text.push('$');
        self.text.push_str(&self.count.to_string());
        // Encoding into the Any buffer cannot fail for the scalar types used here.
        let _ = self.args.add(value);
        self
    }

    /// Binds `value` as the next placeholder number without writing it (for text that already
    /// names `$1`, `$2`, ... in order).
    pub fn bind_first<T>(&mut self, value: T) -> &mut Self
    where
        T: for<'q> Encode<'q, Any> + Type<Any>,
    {
        self.count += 1;
        let _ = self.args.add(value);
        self
    }

    /// Appends `(<p1>, <p2>, ...)` bound to `values`; `(NULL)` when empty, which matches nothing.
    pub fn bind_list<T, I>(&mut self, values: I) -> &mut Self
    where
        I: IntoIterator<Item = T>,
        T: for<'q> Encode<'q, Any> + Type<Any>,
    {
        self.text.push('(');
        let mut any = false;
        for v in values {
            if any {
                self.text.push_str(", ");
            }
            self.bind(v);
            any = true;
        }
        if !any {
            self.text.push_str("NULL");
        }
        self.text.push(')');
        self
    }

    /// The finished statement and its arguments.
    pub fn build(self) -> (sqlx::AssertSqlSafe<String>, AnyArguments) {
        (sqlx::AssertSqlSafe(self.text), self.args)
    }
}

/// A nullable double to bind. sqlx 0.9.0's `Any` driver binds a NULL `f64` as a PostgreSQL
/// `real` (its `Real` and `Double` kinds are swapped for NULLs), so a prepared statement first
/// run with NULL refuses every later value; this binds NULL as `double precision`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NullableF64(pub Option<f64>);

impl Type<Any> for NullableF64 {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <f64 as Type<Any>>::type_info()
    }
}

impl Encode<'_, Any> for NullableF64 {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self.0 {
            Some(v) => <f64 as Encode<Any>>::encode_by_ref(&v, buf),
            // A NULL `f32` is what the driver turns into a NULL `double precision`.
            None => <Option<f32> as Encode<Any>>::encode_by_ref(&None, buf),
        }
    }
}
