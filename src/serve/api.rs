//! The JSON API (see the README's table): index status and re-indexing, query by example
//! (an upload or an indexed path), the duplicate groups with their review decisions, bulk
//! decisions, actions on the accepted groups (dry run, then carried out with a journal),
//! journals and undo. Shapes follow the CLI's `--json`.

use super::{files, jobs, security, Shared};
use crate::dedup::actions::{self, Action, Plan};
use crate::dedup::decisions::{self, parse_id, Decisions, Reviewed, Verdict};
use crate::dedup::{self, Probe, Tier};
use crate::index::Neighbor;
use crate::ingest::decode::{self, DecodeOptions};
use crate::model::Task;
use crate::text::{path_text, time_text};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> ApiError {
        let status = match e {
            crate::Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        ApiError::new(e.status(), format!("bad JSON body: {}", e.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad_request(format!("bad query parameters: {}", e.body_text()))
    }
}

type Answer = Result<Json<Value>, ApiError>;

/// Every route, behind the security guard.
pub fn router(shared: Arc<Shared>) -> Router {
    let upload_limit = shared.opts.max_upload_bytes;
    Router::new()
        .route("/", get(files::page))
        .route("/app.js", get(files::script))
        .route("/app.css", get(files::style))
        .route("/api/status", get(status))
        .route("/api/reindex", post(reindex))
        .route("/api/query", get(query_by_path).post(query_by_upload))
        .route("/api/thumb", get(files::thumbnail))
        .route("/api/file", get(files::original))
        .route("/api/groups", get(groups))
        .route("/api/decisions", post(decide))
        .route("/api/decisions/bulk", post(decide_many))
        .route("/api/actions/plan", post(plan_action))
        .route("/api/actions/run", post(run_action))
        .route("/api/journals", get(journals))
        .route("/api/undo", post(undo))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page or endpoint") })
        .layer(DefaultBodyLimit::max(upload_limit))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            security::guard,
        ))
        .with_state(shared)
}

/// Runs blocking work (decoding, embedding, the index, files) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the request's work failed: {e}")))?
}

/// Refuses work that needs the index while it is being re-indexed.
fn not_reindexing(shared: &Shared) -> Result<(), ApiError> {
    if shared
        .reindex
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .running
    {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the index is being updated (re-index in progress): try again when it is done",
        ));
    }
    Ok(())
}

// ---- status and re-indexing ----

async fn status(State(shared): State<Arc<Shared>>) -> Answer {
    let roots = jobs::roots(&shared)?;
    let reindex = shared
        .reindex
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .to_json();
    let groups = match &*shared.groups.lock().unwrap_or_else(|e| e.into_inner()) {
        jobs::GroupsState::Stale => json!({"state": "stale"}),
        jobs::GroupsState::Running => json!({"state": "running"}),
        jobs::GroupsState::Ready { groups, .. } => json!({"state": "ready", "count": groups.len()}),
        jobs::GroupsState::Failed(e) => json!({"state": "failed", "error": e}),
    };
    let index = shared
        .stats
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(Json(json!({
        "index": index,
        "roots": roots.iter().map(|r| path_text(r)).collect::<Vec<_>>(),
        "watch": shared.opts.watch,
        "reindex": reindex,
        "groups": groups,
    })))
}

async fn reindex(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    if jobs::roots(&shared)?.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            shared.library.no_roots(),
        ));
    }
    if !jobs::start_reindex(&shared, false) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "a re-index is already in progress",
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"started": true}))).into_response())
}

// ---- query by example ----

#[derive(Deserialize)]
struct QueryParams {
    path: Option<String>,
    k: Option<usize>,
    offset: Option<usize>,
    mode: Option<String>,
}

/// Results per page at most, and how deep paging may go.
const MAX_K: usize = 500;
const MAX_OFFSET: usize = 10_000;
/// Neighbours checked for `mode=copies`.
const COPY_CANDIDATES: usize = 32;

struct QuerySpec {
    k: usize,
    offset: usize,
    copies: bool,
}

impl QueryParams {
    fn spec(&self) -> Result<QuerySpec, ApiError> {
        let k = self.k.unwrap_or(60);
        let offset = self.offset.unwrap_or(0);
        if !(1..=MAX_K).contains(&k) {
            return Err(ApiError::bad_request(format!(
                "k must be between 1 and {MAX_K}, got {k}"
            )));
        }
        if offset > MAX_OFFSET {
            return Err(ApiError::bad_request(format!(
                "offset must be at most {MAX_OFFSET}, got {offset}"
            )));
        }
        let copies = match self.mode.as_deref().unwrap_or("similar") {
            "similar" => false,
            "copies" => true,
            other => {
                return Err(ApiError::bad_request(format!(
                    "mode must be `similar` or `copies`, got `{other}`"
                )))
            }
        };
        Ok(QuerySpec { k, offset, copies })
    }
}

async fn query_by_path(
    State(shared): State<Arc<Shared>>,
    params: Result<Query<QueryParams>, QueryRejection>,
) -> Answer {
    let Query(params) = params?;
    let spec = params.spec()?;
    let Some(path) = params.path else {
        return Err(ApiError::bad_request(
            "give `path` (an indexed file), or POST the image",
        ));
    };
    let file = files::indexed(&shared, &path)?;
    let (_, content) = shared
        .library
        .picture(&file.path)?
        .ok_or_else(|| ApiError::internal(format!("{path}: its content record is missing")))?;
    let shared2 = shared.clone();
    let query = path_text(&file.path);
    if !spec.copies {
        let v = blocking(move || answer(&shared2, &query, &content.vector, None, &spec)).await?;
        return Ok(Json(v));
    }
    // The copy decision compares the pictures: the query's is decoded from its file.
    let v = shared
        .on_cpu(move || {
            let bytes = std::fs::read(&file.path).map_err(|e| {
                ApiError::new(StatusCode::GONE, format!("{path} cannot be read now: {e}"))
            })?;
            let prepared = prepare(&shared2, &bytes)?;
            let probe = Probe::new(&bytes, &prepared, content.vector.clone());
            answer(&shared2, &query, &content.vector, Some(&probe), &spec)
        })
        .await?;
    Ok(Json(v))
}

async fn query_by_upload(
    State(shared): State<Arc<Shared>>,
    params: Result<Query<QueryParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let Query(params) = params?;
    let spec = params.spec()?;
    let bytes = body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!(
                    "the upload is larger than {} MiB",
                    shared.opts.max_upload_bytes >> 20
                ),
            )
        } else {
            ApiError::new(status, format!("cannot read the upload: {}", e.body_text()))
        }
    })?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the request has no image: send the image's bytes as the body",
        ));
    }
    let shared2 = shared.clone();
    let (vector, probe) = shared
        .on_cpu(move || {
            let prepared = prepare(&shared2, &bytes)?;
            let vector = shared2
                .encoder
                .embed(std::slice::from_ref(&prepared))?
                .pop()
                .flatten()
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "the encoder produced an unusable embedding for the upload",
                    )
                })?;
            let probe = spec
                .copies
                .then(|| Probe::new(&bytes, &prepared, vector.clone()));
            Ok::<_, ApiError>((vector, probe))
        })
        .await?;
    // The copy decision decodes the candidates: on the CPU threads too; the plain search
    // (the index's turn and a scan) on a blocking thread.
    let shared2 = shared.clone();
    let v = match probe {
        Some(probe) => {
            shared
                .on_cpu(move || answer(&shared2, "(upload)", &vector, Some(&probe), &spec))
                .await?
        }
        None => blocking(move || answer(&shared2, "(upload)", &vector, None, &spec)).await?,
    };
    Ok(Json(v))
}

/// Decodes an image for the encoder, with the indexing pixel limit.
fn prepare(shared: &Shared, bytes: &[u8]) -> Result<decode::PreparedImage, ApiError> {
    let opts = DecodeOptions {
        max_pixels: shared.opts.indexing.max_pixels,
        ..DecodeOptions::new(shared.encoder.info().input_size as u32)
    };
    decode::prepare(bytes, &opts).map_err(|reason| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("not a readable image: {reason}"),
        )
    })
}

/// The neighbours of `vector` (one page), or with a probe, the copies among the nearest.
fn answer(
    shared: &Shared,
    query: &str,
    vector: &[f32],
    probe: Option<&Probe>,
    spec: &QuerySpec,
) -> Result<Value, ApiError> {
    not_reindexing(shared)?;
    let (neighbors, more) = match probe {
        None => {
            let mut found =
                shared
                    .library
                    .nearest_by(vector, spec.offset + spec.k + 1, Task::Query)?;
            let more = found.len() > spec.offset + spec.k;
            found.truncate(spec.offset + spec.k);
            (found.split_off(spec.offset.min(found.len())), more)
        }
        Some(probe) => {
            let copies =
                shared
                    .library
                    .copies_of(&shared.opts.dedup, probe, vector, COPY_CANDIDATES)?;
            let (found, exact): (Vec<Neighbor>, Vec<bool>) =
                copies.into_iter().take(spec.k).unzip();
            let mut list = neighbor_values(shared, &found)?;
            for (v, exact) in list.iter_mut().zip(exact) {
                v["copy"] = json!(true);
                v["exact"] = json!(exact);
            }
            return Ok(json!({
                "query": query, "mode": "copies", "k": spec.k, "offset": 0,
                "more": false, "neighbors": list,
            }));
        }
    };
    Ok(json!({
        "query": query,
        "mode": "similar",
        "k": spec.k,
        "offset": spec.offset,
        "more": more,
        "neighbors": neighbor_values(shared, &neighbors)?,
    }))
}

/// The neighbours as the API gives them: path, names, similarity, and the file's size,
/// time and picture size (looked up together).
fn neighbor_values(shared: &Shared, found: &[Neighbor]) -> Result<Vec<Value>, ApiError> {
    let paths: Vec<&Path> = found.iter().map(|n| n.path.as_path()).collect();
    let described = shared.library.describe(&paths)?;
    Ok(found
        .iter()
        .zip(described)
        .map(|(n, described)| {
            let mut v = json!({"path": path_text(&n.path), "similarity": n.similarity});
            add_names(&mut v, &n.path);
            if let Some((file, width, height)) = described {
                v["size"] = json!(file.size);
                v["modified"] = json!(time_text(file.mtime_ns));
                v["width"] = json!(width);
                v["height"] = json!(height);
            }
            v
        })
        .collect())
}

/// Adds `folder` and `name` beside a path.
fn add_names(v: &mut Value, path: &Path) {
    v["folder"] = json!(path.parent().map(path_text).unwrap_or_default());
    v["name"] = json!(path
        .file_name()
        .map(|n| path_text(Path::new(n)))
        .unwrap_or_default());
}

// ---- duplicate groups and decisions ----

#[derive(Deserialize, Default)]
struct GroupFilter {
    offset: Option<usize>,
    limit: Option<usize>,
    /// Comma-separated tier names; none: all.
    tier: Option<String>,
    /// hide (default), show, only.
    decided: Option<String>,
    /// any (default), yes, no.
    accepted: Option<String>,
}

impl GroupFilter {
    fn tiers(&self) -> Result<Vec<Tier>, ApiError> {
        self.tier
            .iter()
            .flat_map(|t| t.split(','))
            .filter(|t| !t.is_empty())
            .map(|t| {
                Tier::parse(t)
                    .or_else(|| Tier::ALL.into_iter().find(|x| x.key() == t))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "unknown tier `{t}` (exact, same-shot, near-exact, copy, similar-shot)"
                        ))
                    })
            })
            .collect()
    }

    fn keeps(&self, tiers: &[Tier], r: &Reviewed) -> Result<bool, ApiError> {
        let by_tier = tiers.is_empty() || tiers.contains(&r.group.tier);
        let by_decision = match self.decided.as_deref().unwrap_or("hide") {
            "hide" => !r.hidden(),
            "show" => true,
            "only" => r.hidden(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "decided must be hide, show or only, got `{other}`"
                )))
            }
        };
        let by_acceptance = match self.accepted.as_deref().unwrap_or("any") {
            "any" => true,
            "yes" => r.accepted(),
            "no" => !r.accepted(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "accepted must be any, yes or no, got `{other}`"
                )))
            }
        };
        Ok(by_tier && by_decision && by_acceptance)
    }
}

/// The current groups with the decisions applied, or the answer to give while they are
/// being found.
fn reviewed_groups(shared: &Arc<Shared>) -> Result<Result<Vec<Reviewed>, String>, ApiError> {
    let named = match jobs::groups(shared) {
        Ok(named) => named,
        Err(state) => return Ok(Err(state)),
    };
    let decisions = Decisions::load(shared.library.book())?;
    Ok(Ok(named
        .iter()
        .map(|r| decisions.apply(r.clone()))
        .collect()))
}

fn group_value(r: &Reviewed, position: usize) -> Value {
    let mut v = dedup::json::reviewed(r);
    v["position"] = json!(position);
    if let Some(members) = v["members"].as_array_mut() {
        for (m, member) in members.iter_mut().zip(&r.group.members) {
            add_names(m, &member.path);
        }
    }
    v
}

async fn groups(
    State(shared): State<Arc<Shared>>,
    filter: Result<Query<GroupFilter>, QueryRejection>,
) -> Answer {
    let Query(filter) = filter?;
    let offset = filter.offset.unwrap_or(0);
    let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
    let tiers = filter.tiers()?;
    let all = match reviewed_groups(&shared)? {
        Ok(all) => all,
        Err(state) => {
            let (state, error) = match state.strip_prefix("failed: ") {
                Some(e) => ("failed", Some(e.to_string())),
                None => ("running", None),
            };
            return Ok(Json(json!({
                "state": state, "error": error, "total": 0, "offset": offset, "groups": [],
            })));
        }
    };
    let mut counts = json!({"all": 0, "accepted": 0, "hidden": 0});
    for t in Tier::ALL {
        counts[t.key()] = json!(0);
    }
    let bump = |counts: &mut Value, key: &str| {
        counts[key] = json!(counts[key].as_u64().unwrap_or(0) + 1);
    };
    let mut matching = Vec::new();
    for r in &all {
        if r.hidden() {
            bump(&mut counts, "hidden");
        } else {
            bump(&mut counts, "all");
            bump(&mut counts, r.group.tier.key());
            if r.accepted() {
                bump(&mut counts, "accepted");
            }
        }
        if filter.keeps(&tiers, r)? {
            matching.push(r);
        }
    }
    let acted_on: Vec<dedup::Group> = matching
        .iter()
        .filter(|r| !r.hidden())
        .map(|r| r.group.clone())
        .collect();
    let (duplicates, bytes) = dedup::totals(&acted_on);
    let page: Vec<Value> = matching
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(i, r)| group_value(r, i))
        .collect();
    Ok(Json(json!({
        "state": "ready",
        "total": matching.len(),
        "offset": offset,
        "counts": counts,
        "duplicates": duplicates,
        "duplicate_bytes": bytes,
        "groups": page,
    })))
}

#[derive(Deserialize)]
struct DecisionBody {
    group: String,
    verdict: String,
    keeper: Option<String>,
}

/// A verdict's name, or `clear` (`None`).
fn verdict(name: &str) -> Result<Option<Verdict>, ApiError> {
    if name == "clear" {
        return Ok(None);
    }
    Verdict::parse(name).map(Some).ok_or_else(|| {
        ApiError::bad_request(format!(
            "verdict must be not-duplicates, keeper, accepted or clear, got `{name}`"
        ))
    })
}

fn groups_ready(shared: &Arc<Shared>) -> Result<Vec<Reviewed>, ApiError> {
    reviewed_groups(shared)?.map_err(|_| {
        ApiError::new(
            StatusCode::CONFLICT,
            "the duplicate groups are still being found: try again shortly",
        )
    })
}

async fn decide(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Answer {
    let Json(body) = body?;
    let verdict = verdict(&body.verdict)?;
    let id = parse_id(&body.group)
        .ok_or_else(|| ApiError::bad_request("group must be a group id (64 hex digits)"))?;
    let shared2 = shared.clone();
    blocking(move || {
        let all = groups_ready(&shared2)?;
        let reviewed = all.into_iter().find(|r| r.id == id).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such group now (the groups changed: reload them)",
            )
        })?;
        match verdict {
            Some(v) => decisions::decide(
                shared2.library.book(),
                &reviewed,
                v,
                body.keeper.as_deref().map(Path::new),
            )?,
            None => decisions::forget(shared2.library.book(), &reviewed.id)?,
        }
        let decisions = Decisions::load(shared2.library.book())?;
        let mut now = decisions.apply(reviewed);
        if verdict.is_none() {
            now.decision = None;
        }
        // Its position depends on the caller's filter: not given.
        let group = if now.hidden() {
            Value::Null
        } else {
            let mut v = group_value(&now, 0);
            v["position"] = Value::Null;
            v
        };
        Ok(Json(json!({ "group": group })))
    })
    .await
}

#[derive(Deserialize)]
struct BulkBody {
    verdict: String,
    #[serde(default)]
    tier: Vec<String>,
    #[serde(default)]
    undecided_only: bool,
}

async fn decide_many(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<BulkBody>, JsonRejection>,
) -> Answer {
    let Json(body) = body?;
    let verdict = verdict(&body.verdict)?;
    if verdict == Some(Verdict::Keeper) {
        return Err(ApiError::bad_request(
            "a keeper is chosen group by group, not in bulk",
        ));
    }
    let filter = GroupFilter {
        tier: Some(body.tier.join(",")),
        decided: Some(if verdict.is_none() { "show" } else { "hide" }.into()),
        ..GroupFilter::default()
    };
    let tiers = filter.tiers()?;
    let shared2 = shared.clone();
    blocking(move || {
        let mut decided = 0;
        for r in groups_ready(&shared2)? {
            if !filter.keeps(&tiers, &r)? || (body.undecided_only && r.decision.is_some()) {
                continue;
            }
            match verdict {
                Some(v) => decisions::decide(shared2.library.book(), &r, v, None)?,
                None => decisions::forget(shared2.library.book(), &r.id)?,
            }
            decided += 1;
        }
        Ok(Json(json!({ "decided": decided })))
    })
    .await
}

// ---- actions, journals, undo ----

#[derive(Deserialize)]
struct ActionBody {
    action: String,
    to: Option<String>,
    #[serde(default)]
    same_shot: bool,
    /// Act on other shots of a scene too (the similar-shot tier).
    #[serde(default)]
    similar_shot: bool,
    #[serde(default)]
    confirm: bool,
}

impl ActionBody {
    /// The tiers acted on only when named that this action names.
    fn named_tiers(&self) -> Vec<dedup::Tier> {
        let mut named = Vec::new();
        if self.same_shot {
            named.push(dedup::Tier::SameShot);
        }
        if self.similar_shot {
            named.push(dedup::Tier::SimilarShot);
        }
        named
    }

    fn action(&self) -> Result<Action, ApiError> {
        match (self.action.as_str(), &self.to) {
            ("move", Some(to)) if Path::new(to).is_absolute() => {
                Ok(Action::MoveTo(PathBuf::from(to)))
            }
            ("move", _) => Err(ApiError::bad_request(
                "move needs `to`: the absolute path of the folder to move the copies into",
            )),
            ("trash", _) => Ok(Action::Trash),
            ("hardlink", _) => Ok(Action::Hardlink),
            ("delete", _) => Err(ApiError::bad_request(
                "the web app does not delete: trash (undoable) or move the copies, or use \
                 `lookalike dedup --delete`",
            )),
            (other, _) => Err(ApiError::bad_request(format!(
                "action must be move, trash or hardlink, got `{other}`"
            ))),
        }
    }
}

/// The plan for the accepted groups.
fn accepted_plan(shared: &Arc<Shared>, body: &ActionBody) -> Result<(usize, Plan), ApiError> {
    let action = body.action()?;
    let accepted: Vec<dedup::Group> = groups_ready(shared)?
        .into_iter()
        .filter(|r| r.accepted())
        .map(|r| r.group)
        .collect();
    Ok((
        accepted.len(),
        actions::plan(&accepted, &action, &body.named_tiers()),
    ))
}

async fn plan_action(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Answer {
    let Json(body) = body?;
    let shared2 = shared.clone();
    blocking(move || {
        let (groups, plan) = accepted_plan(&shared2, &body)?;
        Ok(Json(json!({
            "action": body.action,
            "groups": groups,
            "steps": plan.steps.iter().map(|st| json!({
                "action": st.action,
                "path": path_text(&st.path),
                "target": st.target.as_deref().map(path_text),
                "keeper": path_text(&st.keeper),
                "tier": st.tier,
                "size": st.size,
            })).collect::<Vec<_>>(),
            "bytes": plan.steps.iter().map(|st| st.size).sum::<u64>(),
            "not_exact": plan.not_exact,
            "kept_with_shot": plan.kept_with_shot.len(),
            "other_shots": plan.other_shots.len(),
        })))
    })
    .await
}

fn journal_dir(shared: &Shared) -> PathBuf {
    shared.library.dir().join("journal")
}

/// The empty file that says a journal was undone from the web app: `NAME.jsonl.undone`.
fn undone_marker(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".undone");
    PathBuf::from(name)
}

async fn run_action(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Answer {
    let Json(body) = body?;
    if !body.confirm {
        return Err(ApiError::bad_request(
            "carrying out an action needs \"confirm\": true (preview it with /api/actions/plan)",
        ));
    }
    let shared2 = shared.clone();
    blocking(move || {
        let (_, plan) = accepted_plan(&shared2, &body)?;
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(':', "-");
        let journal = journal_dir(&shared2).join(format!("dedup-{stamp}.jsonl"));
        let (outcome, entries) = actions::execute(&plan.steps, &journal)?;
        jobs::groups_changed(&shared2);
        Ok(Json(json!({
            "done": outcome.done,
            "skipped": outcome.skipped,
            "failed": outcome.failed,
            "bytes": outcome.bytes,
            "journal": journal.file_name().map(|n| n.to_string_lossy().into_owned()),
            "entries": entries.iter().map(|e| json!({
                "path": path_text(&e.path),
                "status": e.status,
                "detail": e.detail,
            })).collect::<Vec<_>>(),
        })))
    })
    .await
}

async fn journals(State(shared): State<Arc<Shared>>) -> Answer {
    let dir = journal_dir(&shared);
    blocking(move || {
        let mut list = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "jsonl") {
                    continue;
                }
                let modified = entry.metadata().ok().and_then(|m| m.modified().ok());
                let steps = actions::read_journal(&path).map_or(0, |e| e.len());
                let undone = undone_marker(&path).exists();
                list.push((
                    modified,
                    entry.file_name().to_string_lossy().into_owned(),
                    steps,
                    undone,
                ));
            }
        }
        list.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        Ok(Json(json!({
            "journals": list.iter().map(|(modified, name, steps, undone)| json!({
                "name": name,
                "modified": modified.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
                "steps": steps,
                "undone": undone,
            })).collect::<Vec<_>>(),
        })))
    })
    .await
}

#[derive(Deserialize)]
struct UndoBody {
    journal: String,
}

async fn undo(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<UndoBody>, JsonRejection>,
) -> Answer {
    let Json(body) = body?;
    let name = body.journal;
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name.ends_with(".jsonl")
        && !name.contains(['/', '\\', '\0']);
    if !plain {
        return Err(ApiError::bad_request(
            "journal must be the name of a journal listed by /api/journals",
        ));
    }
    let path = journal_dir(&shared).join(&name);
    if !path.is_file() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no journal named {name}"),
        ));
    }
    let marker = undone_marker(&path);
    if marker.exists() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{name} was already undone from this page"),
        ));
    }
    let shared2 = shared.clone();
    blocking(move || {
        let report = actions::undo(&path)?;
        // Remembered beside the journal (a second undo would only report every file as a
        // problem); `lookalike undo` still takes the journal.
        let _ = std::fs::write(&marker, b"");
        jobs::groups_changed(&shared2);
        Ok(Json(serde_json::to_value(&report).expect("serialises")))
    })
    .await
}
