//! A Milvus collection, spoken to over Milvus's REST API (v1, Milvus 2.3 and later): the
//! one place that knows Milvus's requests, answers and limits. [`super::cluster`] keeps an
//! index in it.
//!
//! The collection is made by the REST API's quick set-up: an automatic 64-bit primary key
//! `id`, one float vector field `vector` compared by cosine, and dynamic fields for
//! everything else. Its description holds which model made the vectors, so that a
//! collection of another model or dimension is refused before anything is written.
//!
//! Milvus answers a query with at most 16,384 rows; [`Milvus::list`] reads larger sets by
//! ranges of the rows' `bucket` field, halving a range until its answer fits.

use crate::error::{Error, Result};
use crate::model::ModelInfo;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The most rows one query answers (Milvus's `offset + limit` window).
pub const QUERY_WINDOW: usize = 16_384;

/// Buckets a row's path falls in (the `bucket` field: shards and listings are made of them).
pub const BUCKETS: u32 = 65_536;

/// Rows per insert request (a request stays well under Milvus's 64 MB message limit).
pub const INSERT_CHUNK: usize = 500;

/// Primary keys per delete request.
const DELETE_CHUNK: usize = 1_000;

/// The upper cosine bound of a range search: above 1 (with rounding) so that nothing
/// is cut off at the top.
const RANGE_CEILING: f32 = 1.01;

/// What the description of a collection made by lookalike says.
const FORMAT: u32 = 1;

/// Where an index lives: `milvus://HOST:PORT/COLLECTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    pub host: String,
    pub port: u16,
    pub collection: String,
}

impl std::str::FromStr for StoreUrl {
    type Err = Error;

    fn from_str(text: &str) -> Result<StoreUrl> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "store {text:?}: {why}; expected milvus://HOST:PORT/COLLECTION"
            ))
        };
        let rest = text
            .strip_prefix("milvus://")
            .ok_or_else(|| bad("only milvus:// stores are known"))?;
        let (address, collection) = rest
            .split_once('/')
            .ok_or_else(|| bad("no collection named"))?;
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            None => (address, 19530),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let mut chars = collection.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && collection.len() <= 255;
        if !valid {
            return Err(bad(
                "a collection name is letters, digits and underscores, not starting with a digit",
            ));
        }
        Ok(StoreUrl {
            host: host.to_string(),
            port,
            collection: collection.to_string(),
        })
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "milvus://{}:{}/{}",
            self.host, self.port, self.collection
        )
    }
}

/// A connection to one collection.
pub struct Milvus {
    url: StoreUrl,
    base: String,
    agent: ureq::Agent,
}

impl Milvus {
    /// Connects to the server of `url` (the collection need not exist yet).
    pub fn connect(url: &StoreUrl) -> Result<Milvus> {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build();
        let milvus = Milvus {
            url: url.clone(),
            base: format!("http://{}:{}/v1/vector", url.host, url.port),
            agent,
        };
        milvus.call("GET", "/collections", None)?;
        Ok(milvus)
    }

    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// Another collection of the same server, over this connection.
    pub fn sibling(&self, collection: &str) -> Milvus {
        Milvus {
            url: StoreUrl {
                collection: collection.to_string(),
                ..self.url.clone()
            },
            base: self.base.clone(),
            agent: self.agent.clone(),
        }
    }

    fn error(&self, detail: impl Into<String>) -> Error {
        Error::Milvus {
            url: self.url.to_string(),
            detail: detail.into(),
        }
    }

    /// One request; Milvus's own error codes become errors.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let request = self
            .agent
            .request(method, &url)
            .set("Content-Type", "application/json");
        let response = match body {
            Some(body) => request.send_string(&body.to_string()),
            None => request.call(),
        };
        let response = response.map_err(|e| match e {
            ureq::Error::Transport(t) => self.error(format!(
                "cannot reach the server ({t}); is Milvus running on {}:{}?",
                self.url.host, self.url.port
            )),
            ureq::Error::Status(code, r) => self.error(format!(
                "HTTP {code}: {}",
                r.into_string().unwrap_or_default()
            )),
        })?;
        let answer: Value = response
            .into_json()
            .map_err(|e| self.error(format!("unreadable answer: {e}")))?;
        match answer.get("code").and_then(Value::as_i64) {
            Some(200) => Ok(answer.get("data").cloned().unwrap_or(Value::Null)),
            code => Err(self.error(format!(
                "{} (code {})",
                answer
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message"),
                code.map_or("none".into(), |c| c.to_string())
            ))),
        }
    }

    /// The collection's description, `None` when it does not exist.
    fn describe(&self) -> Result<Option<Value>> {
        let path = format!(
            "/collections/describe?collectionName={}",
            self.url.collection
        );
        match self.call("GET", &path, None) {
            Ok(v) => Ok(Some(v)),
            Err(Error::Milvus { detail, .. })
                if detail.contains("can't find collection")
                    || detail.contains("collection not found") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes the collection for `model`'s vectors (`dim` of them per row) if it does not
    /// exist, refuses one of another model or dimension, and waits until it is loaded.
    pub fn open_or_create(&self, model: &ModelInfo, dim: usize) -> Result<()> {
        self.open_or_create_as(&model.id(), &model.weights_hash, dim, json!({}))
    }

    /// [`Milvus::open_or_create`] for the model named `id` whose weights hash to
    /// `weights`; `more` (an object) is kept in the description beside them.
    pub fn open_or_create_as(
        &self,
        id: &str,
        weights: &str,
        dim: usize,
        more: Value,
    ) -> Result<()> {
        let description = match self.describe()? {
            Some(d) => d,
            None => {
                let mut about = json!({
                    "lookalike": FORMAT,
                    "model": id,
                    "weights": weights,
                    "dim": dim,
                });
                if let (Some(about), Some(more)) = (about.as_object_mut(), more.as_object()) {
                    about.extend(more.clone());
                }
                self.call(
                    "POST",
                    "/collections/create",
                    Some(json!({
                        "collectionName": self.url.collection,
                        "dimension": dim,
                        "metricType": "COSINE",
                        "primaryField": "id",
                        "vectorField": "vector",
                        "description": about.to_string(),
                    })),
                )?;
                self.describe()?
                    .ok_or_else(|| self.error("the collection was made but is not there"))?
            }
        };
        self.check(&description, id, weights, dim)?;
        self.await_loaded(description)
    }

    /// The names of the server's collections.
    pub fn collections(&self) -> Result<Vec<String>> {
        let names = self.call("GET", "/collections", None)?;
        Ok(names
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until the collection is loaded for search (a new one, or one a restarted
    /// server is loading again), at most 60 s.
    fn await_loaded(&self, mut description: Value) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while description.get("load").and_then(Value::as_str) != Some("LoadStateLoaded") {
            if Instant::now() > deadline {
                return Err(self.error(format!(
                    "the collection is not loaded for search after 60 s (state {})",
                    description
                        .get("load")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
            description = self
                .describe()?
                .ok_or_else(|| self.error("the collection went away"))?;
        }
        Ok(())
    }

    /// Opens an existing collection of `model`'s vectors.
    pub fn open(&self, model: &ModelInfo, dim: usize) -> Result<()> {
        let description = self.describe()?.ok_or_else(|| {
            self.error(format!(
                "no collection {}; `lookalike index DIR --store {}` makes it",
                self.url.collection, self.url
            ))
        })?;
        self.check(&description, &model.id(), &model.weights_hash, dim)?;
        self.await_loaded(description)
    }

    /// What the collection's description says of it (the model, the dimension), if
    /// lookalike made it; once it is loaded for reads.
    pub fn about(&self) -> Result<Value> {
        let description = self.describe()?.ok_or_else(|| {
            self.error(format!(
                "no collection {}; `lookalike index DIR --store {}` makes it",
                self.url.collection, self.url
            ))
        })?;
        let about = self.about_of(&description)?;
        self.await_loaded(description)?;
        Ok(about)
    }

    fn about_of(&self, description: &Value) -> Result<Value> {
        let about: Option<Value> = description
            .get("description")
            .and_then(Value::as_str)
            .and_then(|d| serde_json::from_str(d).ok());
        about
            .filter(|a| a.get("lookalike").is_some())
            .ok_or_else(|| {
                self.error(format!(
                    "the collection {} was not made by lookalike; name another",
                    self.url.collection
                ))
            })
    }

    fn check(&self, description: &Value, id: &str, weights: &str, dim: usize) -> Result<()> {
        let about = self.about_of(description)?;
        let store_model = about.get("model").and_then(Value::as_str).unwrap_or("?");
        let same = about.get("weights").and_then(Value::as_str) == Some(weights)
            && about.get("dim").and_then(Value::as_u64) == Some(dim as u64);
        if !same {
            return Err(Error::StoreModelMismatch {
                collection: self.url.to_string(),
                store_model: format!(
                    "{store_model} ({} dimensions)",
                    about.get("dim").and_then(Value::as_u64).unwrap_or(0)
                ),
                current_model: format!("{id} ({dim} dimensions)"),
            });
        }
        Ok(())
    }

    /// Drops the collection (tests, and starting over).
    pub fn drop_collection(&self) -> Result<()> {
        if self.describe()?.is_some() {
            self.call(
                "POST",
                "/collections/drop",
                Some(json!({ "collectionName": self.url.collection })),
            )?;
        }
        Ok(())
    }

    /// Inserts rows (each a JSON object with `vector` and dynamic fields), a request per
    /// [`INSERT_CHUNK`]; each request is applied whole or not at all. Returns the primary
    /// keys Milvus gave the rows, in their order.
    pub fn insert(&self, rows: &[Value]) -> Result<Vec<i64>> {
        let mut keys = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(INSERT_CHUNK) {
            let answer = self.call(
                "POST",
                "/insert",
                Some(json!({ "collectionName": self.url.collection, "data": chunk })),
            )?;
            let ids = answer
                .get("insertIds")
                .and_then(Value::as_array)
                .filter(|ids| ids.len() == chunk.len())
                .ok_or_else(|| self.error("an insert answer does not list the new rows' keys"))?;
            for id in ids {
                keys.push(
                    primary_key(&json!({ "id": id }))
                        .ok_or_else(|| self.error(format!("a new row's key is {id}")))?,
                );
            }
        }
        Ok(keys)
    }

    /// Deletes rows by primary key.
    pub fn delete(&self, pks: &[i64]) -> Result<()> {
        for chunk in pks.chunks(DELETE_CHUNK) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            self.call(
                "POST",
                "/delete",
                Some(json!({
                    "collectionName": self.url.collection,
                    "filter": format!("id in [{}]", list.join(",")),
                })),
            )?;
        }
        Ok(())
    }

    /// The rows matching `filter` (at most [`QUERY_WINDOW`]), with `fields`.
    pub fn query(&self, filter: &str, fields: &[&str], limit: usize) -> Result<Vec<Value>> {
        self.post_query(filter, fields, limit.clamp(1, QUERY_WINDOW))
    }

    /// How many rows match `filter`.
    pub fn count(&self, filter: &str) -> Result<u64> {
        // A count takes no page (Milvus refuses one); a limit of 0 says so.
        let answer = self.post_query(filter, &["count(*)"], 0)?;
        let count = answer.first().and_then(|r| match r.get("count(*)")? {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        });
        count.ok_or_else(|| self.error("a count answer has no count"))
    }

    /// One query request.
    fn post_query(&self, filter: &str, fields: &[&str], limit: usize) -> Result<Vec<Value>> {
        let answer = self.call(
            "POST",
            "/query",
            Some(json!({
                "collectionName": self.url.collection,
                "filter": filter,
                "outputFields": fields,
                "limit": limit,
            })),
        )?;
        rows(answer).ok_or_else(|| self.error("a query answer is not a list of rows"))
    }

    /// Every row matching `filter` (which may be empty), however many: see
    /// [`Milvus::list_each`].
    pub fn list(&self, filter: &str, fields: &[&str]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        self.list_each(filter, fields, |rows| {
            out.extend(rows);
            Ok(())
        })?;
        Ok(out)
    }

    /// Every row matching `filter` (which may be empty), handed to `each` a page at a
    /// time: read by ranges of buckets, as many as the count says fill half a query's
    /// window each, a range halved again when its answer fills the window.
    pub fn list_each(
        &self,
        filter: &str,
        fields: &[&str],
        mut each: impl FnMut(Vec<Value>) -> Result<()>,
    ) -> Result<()> {
        let rows = self.count(&if filter.is_empty() {
            "bucket >= 0".to_string()
        } else {
            format!("({filter}) and bucket >= 0")
        })? as usize;
        let parts = (2 * rows / QUERY_WINDOW + 1)
            .next_power_of_two()
            .min(BUCKETS as usize) as u32;
        let step = BUCKETS / parts;
        let mut ranges: Vec<(u32, u32)> = (0..parts)
            .rev()
            .map(|i| (i * step, (i + 1) * step))
            .collect();
        while let Some((lo, hi)) = ranges.pop() {
            let range = format!("bucket >= {lo} and bucket < {hi}");
            let full = if filter.is_empty() {
                range
            } else {
                format!("({filter}) and {range}")
            };
            let got = self.query(&full, fields, QUERY_WINDOW)?;
            if got.len() < QUERY_WINDOW {
                each(got)?;
            } else if hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                ranges.push((mid, hi));
                ranges.push((lo, mid));
            } else {
                return Err(self.error(format!(
                    "more than {QUERY_WINDOW} rows in bucket {lo}: cannot list them"
                )));
            }
        }
        Ok(())
    }

    /// The `limit` rows nearest to `vector` (cosine, best first) matching `filter`, with
    /// `fields` and their `distance` (the cosine).
    pub fn search(
        &self,
        vector: &[f32],
        limit: usize,
        filter: &str,
        fields: &[&str],
    ) -> Result<Vec<Value>> {
        self.search_with(vector, limit, filter, fields, None)
    }

    /// The rows at cosine `radius` or more from `vector` (Milvus's range search), best
    /// first: all of them when fewer than `limit` are, else the `limit` nearest.
    pub fn search_within(
        &self,
        vector: &[f32],
        radius: f32,
        limit: usize,
        fields: &[&str],
    ) -> Result<Vec<Value>> {
        // The upper bound sits above 1 so that a row equal to the vector is kept.
        let params = json!({ "radius": radius, "range_filter": RANGE_CEILING });
        self.search_with(vector, limit, "", fields, Some(params))
    }

    fn search_with(
        &self,
        vector: &[f32],
        limit: usize,
        filter: &str,
        fields: &[&str],
        params: Option<Value>,
    ) -> Result<Vec<Value>> {
        let mut body = json!({
            "collectionName": self.url.collection,
            "vector": vector,
            "limit": limit.clamp(1, QUERY_WINDOW),
            "outputFields": fields,
        });
        // No filter unless asked: Milvus evaluates a filter on a dynamic field by reading
        // every row's JSON (7 ms a search at 5,000 rows). A barrier marker that comes back
        // has none of the fields asked for, and the callers pass over such rows.
        if !filter.is_empty() {
            body["filter"] = json!(filter);
        }
        if let Some(params) = params {
            body["params"] = params;
        }
        let answer = self.call("POST", "/search", Some(body))?;
        rows(answer).ok_or_else(|| self.error("a search answer is not a list of rows"))
    }

    /// Waits until every write made before the call is visible to reads: Milvus applies
    /// writes in timestamp order and shows them to reads after a short delay, so a marker
    /// row written now and seen by a query means every earlier write is seen too. The
    /// marker (bucket -1: outside every listing and count; a search may meet it, without
    /// the fields asked for) is then deleted.
    pub fn barrier(&self, dim: usize) -> Result<()> {
        let token = format!(
            "{:x}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let mut vector = vec![0.0f32; dim.max(1)];
        vector[0] = 1.0;
        self.insert(&[json!({ "vector": vector, "bucket": -1, "barrier": token })])?;
        let filter = format!("barrier == \"{token}\"");
        let deadline = Instant::now() + BARRIER_PATIENCE;
        loop {
            let seen = self.query(&filter, &["barrier"], 1)?;
            if let Some(pk) = seen.first().and_then(primary_key) {
                return self.delete(&[pk]);
            }
            if Instant::now() > deadline {
                return Err(self.error(format!(
                    "writes not visible to reads after {} s",
                    BARRIER_PATIENCE.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// How long [`Milvus::barrier`] waits for its marker.
const BARRIER_PATIENCE: Duration = Duration::from_secs(60);

/// The rows of an answer.
fn rows(answer: Value) -> Option<Vec<Value>> {
    match answer {
        Value::Array(rows) => Some(rows),
        Value::Null => Some(Vec::new()),
        _ => None,
    }
}

/// A row's primary key (Milvus writes 64-bit keys as strings in JSON).
pub fn primary_key(row: &Value) -> Option<i64> {
    match row.get("id")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_names_host_port_and_collection() {
        let url: StoreUrl = "milvus://db.example:19531/photos_2026".parse().unwrap();
        assert_eq!(
            url,
            StoreUrl {
                host: "db.example".into(),
                port: 19531,
                collection: "photos_2026".into()
            }
        );
        assert_eq!(url.to_string(), "milvus://db.example:19531/photos_2026");
        let default_port: StoreUrl = "milvus://localhost/photos".parse().unwrap();
        assert_eq!(default_port.port, 19530);
        for bad in [
            "http://localhost:19530/photos",
            "milvus://localhost:19530",
            "milvus://localhost:port/photos",
            "milvus://:19530/photos",
            "milvus://localhost:19530/9photos",
            "milvus://localhost:19530/my-photos",
        ] {
            let err = bad.parse::<StoreUrl>().unwrap_err().to_string();
            assert!(
                err.contains("milvus://HOST:PORT/COLLECTION"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn primary_keys_are_read_from_strings_or_numbers() {
        assert_eq!(
            primary_key(&json!({"id": "470978595953311958"})),
            Some(470978595953311958)
        );
        assert_eq!(primary_key(&json!({"id": 7})), Some(7));
        assert_eq!(primary_key(&json!({"path": "a"})), None);
    }

    #[test]
    fn an_unreachable_server_is_a_clear_error() {
        // Port 9 (discard) on loopback: nothing listens in a test environment.
        let url: StoreUrl = "milvus://127.0.0.1:9/photos".parse().unwrap();
        let err = Milvus::connect(&url).err().expect("no server").to_string();
        assert!(err.contains("cannot reach the server"), "{err}");
        assert!(err.contains("milvus://127.0.0.1:9/photos"), "{err}");
    }
}
