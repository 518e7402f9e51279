//! How the crate's types are stored in columns: what sqlx's `Any` driver decodes them
//! from and encodes them to. Rows derive `sqlx::FromRow` with these types as fields
//! (a foreign type through a local one: `#[sqlx(try_from = "…")]`), and queries bind
//! them as they are.
//!
//! The `Any` driver decodes a value only as the type the engine reports (an integer
//! column is no `bool`, a text column no enum), so each type here says which column
//! type it is stored as, and converts.

use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type, ValueRef};
use storage::StoreName;

use super::{JobState, PackageKind};
use crate::tokens::Scopes;

type AnyArgumentBuffer = <Any as Database>::ArgumentBuffer;

/// A yes/no column: `0` or `1` in a 64-bit integer on both engines (any other value
/// reads as yes). Fields are `bool`, read through it: `#[sqlx(try_from = "Flag")]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0
    }
}

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Flag(<i64 as Decode<Any>>::decode(value)? != 0))
    }
}

impl Encode<'_, Any> for Flag {
    fn encode_by_ref(&self, buf: &mut AnyArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Any>>::encode(i64::from(self.0), buf)
    }
}

/// Types stored in a text column.
macro_rules! text_column {
    ($($ty:ty),* $(,)?) => {$(
        impl Type<Any> for $ty {
            fn type_info() -> AnyTypeInfo {
                <str as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <str as Type<Any>>::compatible(ty)
            }
        }
    )*};
}

text_column!(
    JobState,
    PackageKind,
    StoreColumn,
    Scopes,
    CommaSeparated,
    JsonNames,
    NullableJsonNames
);

/// Types stored as their name (`as_str`) in a text column and read back with
/// `FromStr`: a name that is none of the type's values fails to decode.
macro_rules! stored_as_name {
    ($($ty:ty),* $(,)?) => {$(
        impl<'r> Decode<'r, Any> for $ty {
            fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<&str as Decode<Any>>::decode(value)?.parse()?)
            }
        }

        impl Encode<'_, Any> for $ty {
            fn encode_by_ref(&self, buf: &mut AnyArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Any>>::encode(self.as_str(), buf)
            }
        }
    )*};
}

stored_as_name!(JobState, PackageKind);

/// A store named in a text column (`versions.dist_store`): fields are `StoreName`,
/// read through it (`#[sqlx(try_from = "StoreColumn")]`); bind `StoreName::as_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreColumn(StoreName);

impl From<StoreColumn> for StoreName {
    fn from(column: StoreColumn) -> StoreName {
        column.0
    }
}

/// A store name none of the stores has.
#[derive(Debug, thiserror::Error)]
#[error("unknown store {0:?}")]
pub struct UnknownStore(String);

impl<'r> Decode<'r, Any> for StoreColumn {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        let name = <&str as Decode<Any>>::decode(value)?;
        let store = StoreName::parse(name).ok_or_else(|| UnknownStore(name.to_owned()))?;
        Ok(StoreColumn(store))
    }
}

/// A token's scopes: a JSON list of scope names, or NULL for every scope (the tokens
/// made before scopes existed). An unreadable list grants nothing.
impl<'r> Decode<'r, Any> for Scopes {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(Scopes::from_column(None));
        }
        Ok(Scopes::from_column(Some(<&str as Decode<Any>>::decode(
            value,
        )?)))
    }
}

impl Encode<'_, Any> for Scopes {
    fn encode_by_ref(&self, buf: &mut AnyArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Option<String> as Encode<Any>>::encode(self.to_column(), buf)
    }
}

/// A list of names in a text column, comma-separated (a webhook's events): fields are
/// `Vec<String>`, read through it (`#[sqlx(try_from = "CommaSeparated")]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommaSeparated(Vec<String>);

impl From<CommaSeparated> for Vec<String> {
    fn from(list: CommaSeparated) -> Vec<String> {
        list.0
    }
}

impl<'r> Decode<'r, Any> for CommaSeparated {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Any>>::decode(value)?;
        Ok(CommaSeparated(text.split(',').map(str::to_owned).collect()))
    }
}

/// A JSON list of names in a text column (a group's mirrors); one that does not parse
/// reads as empty. Fields are `Vec<String>`, read through it
/// (`#[sqlx(try_from = "JsonNames")]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonNames(Vec<String>);

impl From<JsonNames> for Vec<String> {
    fn from(list: JsonNames) -> Vec<String> {
        list.0
    }
}

impl<'r> Decode<'r, Any> for JsonNames {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Any>>::decode(value)?;
        Ok(JsonNames(serde_json::from_str(text).unwrap_or_default()))
    }
}

/// A JSON list of names in a nullable text column, where NULL means "no list" (a
/// user's sub-repository limit: NULL limits nothing). Fields are
/// `Option<Vec<String>>`, read through it (`#[sqlx(try_from = "NullableJsonNames")]`);
/// a list that does not parse reads as empty, which limits to nothing rather than to
/// everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NullableJsonNames(pub Option<Vec<String>>);

impl From<NullableJsonNames> for Option<Vec<String>> {
    fn from(list: NullableJsonNames) -> Option<Vec<String>> {
        list.0
    }
}

impl<'r> Decode<'r, Any> for NullableJsonNames {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        use sqlx::ValueRef;
        if value.is_null() {
            return Ok(NullableJsonNames(None));
        }
        let text = <&str as Decode<Any>>::decode(value)?;
        Ok(NullableJsonNames(Some(
            serde_json::from_str(text).unwrap_or_default(),
        )))
    }
}

/// How a nullable list of names is stored: JSON, or NULL.
pub fn nullable_json(list: Option<&[String]>) -> Option<String> {
    list.map(|names| serde_json::to_string(names).expect("a list of strings serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;

    #[derive(Debug, PartialEq, sqlx::FromRow)]
    struct Columns {
        #[sqlx(try_from = "Flag")]
        no: bool,
        #[sqlx(try_from = "Flag")]
        yes: bool,
        kind: PackageKind,
        state: JobState,
        #[sqlx(try_from = "StoreColumn")]
        store: StoreName,
        every_scope: Scopes,
        #[sqlx(try_from = "CommaSeparated")]
        events: Vec<String>,
        #[sqlx(try_from = "JsonNames")]
        mirrors: Vec<String>,
        #[sqlx(try_from = "JsonNames")]
        unreadable: Vec<String>,
    }

    #[tokio::test]
    async fn columns_decode_to_the_crates_types_on_both_engines() {
        for (db, _dir) in testing::engines().await {
            let read: Columns = sqlx::query_as(
                "SELECT CAST(0 AS BIGINT) AS no, CAST(1 AS BIGINT) AS yes, $1 AS kind, \
                 'failed' AS state, 'dist' AS store, CAST(NULL AS TEXT) AS every_scope, \
                 'new_release,delete_package' AS events, '[\"packagist\"]' AS mirrors, \
                 'not json' AS unreadable",
            )
            .bind(PackageKind::Git)
            .fetch_one(db.pool())
            .await
            .unwrap();
            assert_eq!(
                read,
                Columns {
                    no: false,
                    yes: true,
                    kind: PackageKind::Git,
                    state: JobState::Failed,
                    store: StoreName::Dist,
                    every_scope: Scopes(None),
                    events: vec!["new_release".into(), "delete_package".into()],
                    mirrors: vec!["packagist".into()],
                    unreadable: Vec::new(),
                },
                "{:?}",
                db.engine()
            );
            let flag: (Flag,) = sqlx::query_as("SELECT $1")
                .bind(Flag(true))
                .fetch_one(db.pool())
                .await
                .unwrap();
            assert_eq!(flag, (Flag(true),));
        }
    }

    #[tokio::test]
    async fn a_name_none_of_the_values_has_is_a_decoding_error() {
        let (db, _dir) = testing::sqlite().await;
        let error = sqlx::query_as::<_, (PackageKind,)>("SELECT 'svn'")
            .fetch_one(db.pool())
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("unknown package kind \"svn\""),
            "{error}"
        );
        let error = sqlx::query_as::<_, (StoreColumn,)>("SELECT 'cdn'")
            .fetch_one(db.pool())
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("unknown store \"cdn\""),
            "{error}"
        );
    }
}
