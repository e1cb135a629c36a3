//! The claim on PostgreSQL.
//!
//! Candidate rows are locked `FOR UPDATE SKIP LOCKED`, so two processes never wait for or take
//! the same run, and a transaction-scoped advisory lock orders the claims of every process so
//! that each sees the previous one's runs as started: that keeps a concurrency key to one run
//! at a time across processes. The lock must be granted before the claim's snapshot is taken,
//! so it is a statement of its own, sent with `BEGIN` as one simple query.
//!
//! The claim runs on a generic plan: planned for its values it cost ≈ 1.3 ms of the server's
//! CPU per claim (half the claim), and its shape leaves the plan no choice that depends on
//! them: the due runs come from the partial index `runs_due` in (wake_at, seq) order, so the
//! scan stops after `limit` entries however many are queued.

use std::sync::LazyLock;

use sqlx::postgres::PgRow;
use sqlx::{Executor, PgConnection};

use super::super::rows::RUN_COLUMNS;
use super::super::runs::ACTIVE;
use super::super::steps::ClaimRequest;
use super::super::{Claimed, StoreError};
use super::conns::Conns;

/// The advisory lock key that orders claims across processes ("roster" "claim").
const CLAIM_LOCK: (i32, i32) = (0x726f_7374, 0x636c_6169);

/// Opens the claim's transaction: the lock, and a generic plan for what follows.
static BEGIN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "BEGIN; SELECT pg_advisory_xact_lock({}, {}), \
         set_config('plan_cache_mode', 'force_generic_plan', true)",
        CLAIM_LOCK.0, CLAIM_LOCK.1
    )
});

/// The claim. Runs whose worker died (lease expired) come first, then due runs in (wake_at,
/// seq) order. A keyed run is ready when no older run of its key is active and no younger one
/// has started (a younger run can have started when the older one committed after it was
/// claimed). `$5` restricts the claim to one run (`roster run`); it is a statement of its own
/// so that the general one's plan does not allow for it.
fn sql(only: bool) -> String {
    let only = if only { "AND r.id = $5" } else { "" };
    let key_free = format!(
        "(r.concurrency_key IS NULL OR NOT EXISTS ( \
           SELECT 1 FROM runs o WHERE o.concurrency_key = r.concurrency_key \
             AND o.id <> r.id AND o.status IN {ACTIVE} \
             AND (o.seq < r.seq OR o.status <> 'queued')))"
    );
    format!(
        "WITH due AS (SELECT r.seq, r.wake_at FROM runs r \
             WHERE r.status IN ('queued', 'waiting', 'approval') AND r.wake_at <= $3 {only} \
               AND {key_free} \
             ORDER BY r.wake_at, r.seq LIMIT $4 FOR UPDATE OF r SKIP LOCKED), \
           lost AS (SELECT r.seq, NULL::bigint AS wake_at FROM runs r \
             WHERE r.status = 'running' AND r.lease_expires < $3 {only} AND {key_free} \
             ORDER BY r.lease_expires, r.seq LIMIT $4 FOR UPDATE OF r SKIP LOCKED) \
         UPDATE runs SET status = 'running', lease_owner = $1, lease_expires = $2, \
             started_at = COALESCE(started_at, $3), updated_at = $3, wake_at = NULL \
         WHERE seq IN (SELECT seq FROM (SELECT * FROM lost UNION ALL SELECT * FROM due) p \
                       ORDER BY wake_at NULLS FIRST, seq LIMIT $4) \
         RETURNING {RUN_COLUMNS}"
    )
}

static CLAIM: LazyLock<String> = LazyLock::new(|| sql(false));
static CLAIM_ONE: LazyLock<String> = LazyLock::new(|| sql(true));

/// Claims up to `c.limit` ready runs for `c.owner` in a transaction of its own.
pub(super) async fn claim(conns: &Conns, c: &ClaimRequest) -> Result<Vec<Claimed>, StoreError> {
    let mut conn = conns.take().await?;
    let result = transaction(&mut conn, c).await;
    // After an error the connection may be inside the failed transaction: never reuse it.
    if result.is_ok() {
        conns.give(conn, &result);
    }
    result?.iter().map(Claimed::decode).collect()
}

async fn transaction(conn: &mut PgConnection, c: &ClaimRequest) -> Result<Vec<PgRow>, sqlx::Error> {
    // A query without arguments goes as a simple query: two statements, one round trip.
    conn.execute(BEGIN.as_str()).await?;
    let sql = if c.only.is_some() {
        &*CLAIM_ONE
    } else {
        &*CLAIM
    };
    let mut query = sqlx::query(sql)
        .bind(&*c.owner)
        .bind(c.now + c.lease_ms)
        .bind(c.now)
        .bind(c.limit as i64);
    if let Some(id) = &c.only {
        query = query.bind(id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    conn.execute("COMMIT").await?;
    Ok(rows)
}
