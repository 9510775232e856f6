//! The JSON shapes of duplicate groups, shared by `dedup --json` and `serve`'s API.

use super::decisions::{id_text, Reviewed};
use super::{Group, Member};
use crate::text::{path_text, time_text};
use serde_json::{json, Value};

/// One member: path, scores, tier, keeper and reference marks, size, format, shot.
pub fn member(m: &Member) -> Value {
    let mut v = json!({
        "path": path_text(&m.path),
        "similarity": m.similarity,
        "score": m.score,
        "tier": m.tier,
        "keeper": m.keeper,
        "reference": m.reference,
        "width": m.width,
        "height": m.height,
        "size": m.size,
        "modified": time_text(m.mtime_ns),
        "format": m.format,
    });
    if let Some(shot) = m.shot {
        v["shot"] = json!(shot);
    }
    if let Some(a) = &m.agreement {
        v["agreement"] = json!(a);
    }
    if let Some(verdict) = &m.verifier {
        v["verifier"] = json!(verdict);
    }
    v
}

/// A group: its tier, members (the keeper first) and the rules that chose the keeper
/// (`kept_because`: `picture` among the different pictures, `file` among the exact copies
/// of the keeper's picture; each left out where there was no choice).
pub fn group(g: &Group) -> Value {
    json!({
        "tier": g.tier,
        "members": g.members.iter().map(member).collect::<Vec<_>>(),
        "kept_because": g.kept_because,
    })
}

/// A group with its id and the review decision that applies to it (`null`: none).
pub fn reviewed(r: &Reviewed) -> Value {
    let mut v = group(&r.group);
    v["id"] = json!(id_text(&r.id));
    v["decision"] = match &r.decision {
        Some(d) => json!({
            "verdict": d.verdict,
            "keeper": d.keeper.as_deref().map(path_text),
            "decided_at": time_text(d.decided_at as i64 * 1_000_000_000),
        }),
        None => Value::Null,
    };
    v
}
