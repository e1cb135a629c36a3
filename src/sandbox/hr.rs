//! A small HR API, the kind of system Roster reads joiners from and writes results back to.
//!
//! * `GET /hr/employees` → `200 {"employees": [record, …]}` in seed order; `?department=X`
//!   keeps records whose `department` equals X.
//! * `GET /hr/employees/{id}` → `200 record`, or `404`.
//! * `PATCH /hr/employees/{id}` with a JSON merge patch (RFC 7386: objects merge, `null`
//!   removes a field; `id` cannot change) → `204`, or `400`/`404`.
//!
//! Every call needs `Authorization: Bearer <token>` or HTTP Basic with credentials from the
//! seed (`hr.bearer_tokens`, `hr.basic`), else `401` with `WWW-Authenticate`. Errors are
//! `{"error": {"code": "...", "message": "..."}}`; injected faults use the same shape (`503`
//! `unavailable`, `429` `rate_limited` with `Retry-After`).

use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::dispatch::Call;
use super::faults::Fault;
use super::reply::Reply;
use super::routes::Op;
use super::seed::HrSeed;
use super::world::World;

pub struct Hr {
    pub employees: Vec<Map<String, Value>>,
}

impl Hr {
    pub fn from_seed(seed: &HrSeed) -> Hr {
        Hr {
            employees: seed
                .employees
                .iter()
                .filter_map(|e| e.as_object().cloned())
                .collect(),
        }
    }
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": code, "message": message.into()}}),
    )
}

fn authenticated(seed: &HrSeed, call: &Call) -> bool {
    if let Some(token) = call.bearer() {
        return seed.bearer_tokens.iter().any(|t| t == token);
    }
    let Some((scheme, b64)) = call.header("authorization").and_then(|v| v.split_once(' ')) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Some(text) = STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let Some((user, password)) = text.split_once(':') else {
        return false;
    };
    seed.basic
        .iter()
        .any(|c| c.username == user && c.password == password)
}

pub async fn handle(world: &World, op: Op, call: &Call) -> Reply {
    if !authenticated(&world.seed.hr, call) {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid credentials.",
        )
        .header(
            "WWW-Authenticate",
            "Bearer realm=\"hr\", Basic realm=\"hr\"",
        );
    }
    let (latency, fault) = world.draw_fault();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::Throttle { retry_after_s }) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests.",
            )
            .header("Retry-After", retry_after_s.to_string())
        }
        Some(Fault::ServerError {
            status,
            retry_after_s,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return error(status, "unavailable", "The HR system is unavailable.")
                .header("Retry-After", retry_after_s.to_string());
        }
        None => {}
    }
    let id = call.param("id");
    let mut st = world.lock();
    let employees = &mut st.hr.employees;
    let position = employees
        .iter()
        .position(|e| e.get("id").and_then(Value::as_str) == Some(id));
    match op {
        Op::HrListEmployees => {
            let department = call.query("department");
            let list: Vec<Value> = employees
                .iter()
                .filter(|e| {
                    department
                        .is_none_or(|d| e.get("department").and_then(Value::as_str) == Some(d))
                })
                .map(|e| Value::Object(e.clone()))
                .collect();
            Reply::ok(json!({ "employees": list }))
        }
        Op::HrGetEmployee => match position {
            Some(i) => Reply::ok(Value::Object(employees[i].clone())),
            None => error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("Employee {id} not found."),
            ),
        },
        Op::HrPatchEmployee => {
            let Some(i) = position else {
                return error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("Employee {id} not found."),
                );
            };
            let Some(Value::Object(patch)) = call.json() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "The body must be a JSON object (a merge patch).",
                );
            };
            if patch.get("id").is_some_and(|v| v.as_str() != Some(id)) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "The id of an employee cannot change.",
                );
            }
            let mut record = Value::Object(employees[i].clone());
            merge_patch(&mut record, Value::Object(patch));
            if let Value::Object(m) = record {
                employees[i] = m;
            }
            Reply::empty(StatusCode::NO_CONTENT)
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "No such operation."),
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(&k);
            } else {
                merge_patch(t.entry(k).or_insert(Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_merges_objects_and_removes_nulls() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        merge_patch(&mut t, json!({"a": null, "b": {"c": 9}, "e": [2, 3]}));
        assert_eq!(t, json!({"b": {"c": 9, "d": 3}, "e": [2, 3]}));
    }
}
