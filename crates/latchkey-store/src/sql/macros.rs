//! The few macros of the SQL layer: what each driver implements the same
//! way (the sqlx generics stay inside them, expanded for a concrete driver),
//! and the `FOR UPDATE` and `FOR KEY SHARE` suffixes.

/// [`Bind`] for a driver's argument buffer and [`ReadRow`] for its row
/// type; invoked once by each dialect.
macro_rules! driver_impls {
    ($args:ty, $row:ty) => {
        impl $crate::sql::Bind for $args {
            fn text(&mut self, v: &str) -> Result<(), $crate::sql::BindError> {
                sqlx::Arguments::add(self, v)
            }
            fn string(&mut self, v: String) -> Result<(), $crate::sql::BindError> {
                sqlx::Arguments::add(self, v)
            }
            fn opt_text(&mut self, v: Option<&str>) -> Result<(), $crate::sql::BindError> {
                sqlx::Arguments::add(self, v)
            }
            fn i64(&mut self, v: i64) -> Result<(), $crate::sql::BindError> {
                sqlx::Arguments::add(self, v)
            }
            fn opt_i64(&mut self, v: Option<i64>) -> Result<(), $crate::sql::BindError> {
                sqlx::Arguments::add(self, v)
            }
            fn bool(&mut self, v: bool) -> Result<(), $crate::sql::BindError> {
                sqlx::Arguments::add(self, v)
            }
            fn opt_bool(&mut self, v: Option<bool>) -> Result<(), $crate::sql::BindError> {
                sqlx::Arguments::add(self, v)
            }
            fn bytes(&mut self, v: &[u8]) -> Result<(), $crate::sql::BindError> {
                sqlx::Arguments::add(self, v)
            }
            fn opt_bytes(&mut self, v: Option<&[u8]>) -> Result<(), $crate::sql::BindError> {
                sqlx::Arguments::add(self, v)
            }
        }

        impl $crate::sql::ReadRow for $row {
            fn text(&self, column: &str) -> $crate::StoreResult<String> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::sql::unreadable(column, &e))
            }
            fn opt_text(&self, column: &str) -> $crate::StoreResult<Option<String>> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::sql::unreadable(column, &e))
            }
            fn i64(&self, column: &str) -> $crate::StoreResult<i64> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::sql::unreadable(column, &e))
            }
            fn opt_i64(&self, column: &str) -> $crate::StoreResult<Option<i64>> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::sql::unreadable(column, &e))
            }
            fn bool(&self, column: &str) -> $crate::StoreResult<bool> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::sql::unreadable(column, &e))
            }
            fn bytes(&self, column: &str) -> $crate::StoreResult<Vec<u8>> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::sql::unreadable(column, &e))
            }
            fn opt_bytes(&self, column: &str) -> $crate::StoreResult<Option<Vec<u8>>> {
                sqlx::Row::try_get(self, column).map_err(|e| $crate::sql::unreadable(column, &e))
            }
        }
    };
}

/// [`Dialect::fetch_all`] and its siblings, for a dialect whose driver's
/// connections are sqlx executors; invoked inside each `impl Dialect`.
macro_rules! run_queries {
    () => {
        fn fetch_all(
            conn: &mut $crate::sql::Conn<Self>,
            q: $crate::sql::Query<Self>,
        ) -> impl ::std::future::Future<Output = $crate::StoreResult<Vec<Self::Row>>> + Send {
            async move {
                let $crate::sql::Query { sql, args, unique } = q;
                let args = args.map_err(sqlx::Error::Encode)?;
                sqlx::query_with(sql, args).fetch_all(conn).await.map_err(|e| $crate::StoreError::from_query(e, unique))
            }
        }

        fn fetch_optional(
            conn: &mut $crate::sql::Conn<Self>,
            q: $crate::sql::Query<Self>,
        ) -> impl ::std::future::Future<Output = $crate::StoreResult<Option<Self::Row>>> + Send {
            async move {
                let $crate::sql::Query { sql, args, unique } = q;
                let args = args.map_err(sqlx::Error::Encode)?;
                sqlx::query_with(sql, args)
                    .fetch_optional(conn)
                    .await
                    .map_err(|e| $crate::StoreError::from_query(e, unique))
            }
        }

        fn fetch_one(
            conn: &mut $crate::sql::Conn<Self>,
            q: $crate::sql::Query<Self>,
        ) -> impl ::std::future::Future<Output = $crate::StoreResult<Self::Row>> + Send {
            async move {
                let $crate::sql::Query { sql, args, unique } = q;
                let args = args.map_err(sqlx::Error::Encode)?;
                sqlx::query_with(sql, args).fetch_one(conn).await.map_err(|e| $crate::StoreError::from_query(e, unique))
            }
        }

        fn execute(
            conn: &mut $crate::sql::Conn<Self>,
            q: $crate::sql::Query<Self>,
        ) -> impl ::std::future::Future<Output = $crate::StoreResult<u64>> + Send {
            async move {
                let $crate::sql::Query { sql, args, unique } = q;
                let args = args.map_err(sqlx::Error::Encode)?;
                let done = sqlx::query_with(sql, args)
                    .execute(conn)
                    .await
                    .map_err(|e| $crate::StoreError::from_query(e, unique))?;
                Ok(done.rows_affected())
            }
        }
    };
}

/// `$sql`, with a `FOR UPDATE` suffix where dialect `$d` locks rows
/// ([`Dialect::ROW_LOCKS`]); a `&'static str` either way.
macro_rules! for_update {
    ($d:ty, $($sql:tt)+) => {
        if <$d as $crate::sql::Dialect>::ROW_LOCKS { concat!($($sql)+, " FOR UPDATE") } else { concat!($($sql)+) }
    };
}

/// `$sql`, with a `FOR KEY SHARE` suffix where dialect `$d` locks rows: a
/// row that must go on existing (a referenced project, a membership) until
/// the transaction ends, without blocking other readers or changes of its
/// other columns; a `FOR UPDATE` (a deletion) waits for it.
macro_rules! for_key_share {
    ($d:ty, $($sql:tt)+) => {
        if <$d as $crate::sql::Dialect>::ROW_LOCKS { concat!($($sql)+, " FOR KEY SHARE") } else { concat!($($sql)+) }
    };
}

/// A text literal above every id, for the first page of a listing in
/// descending id order: `id < coalesce($n, id_ceiling!())` seeks on the
/// index where `($n IS NULL OR id < $n)` cannot (SQLite's planner, and
/// PostgreSQL's generic plan, turn the `OR` into a filter over every row
/// from the end, so paging is quadratic). Ids compare byte-wise on both
/// backends (SQLite's `BINARY`, PostgreSQL's `COLLATE "C"` id columns), and
/// U+10FFFF, the greatest character, encodes as the greatest leading UTF-8
/// bytes: no id (ASCII, `key_01…`) reaches it.
macro_rules! id_ceiling {
    () => {
        "'\u{10FFFF}'"
    };
}
