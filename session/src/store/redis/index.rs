//! The user index of [`RedisStore`]: a tied session's member (written by the session's own
//! script on one node, by a command of its own on Cluster), listing a user's sessions and
//! revoking them in pages, and the markers that keep a session from slipping out of a
//! revocation by changing its id (the layout is in [`RedisStore`]'s docs, under "The user
//! index").
//!
//! # Pages, not one long script
//!
//! A listing or a revocation reads the index with `ZSCAN` (about [`PAGE`] members a call) and
//! hands each page to a script that reads or deletes those sessions (one node), or reads or
//! deletes them one command each (Cluster, where they live in other slots). No script reads
//! more than a page, so a user with 50 000 sessions delays other clients by one page's work at
//! a time, not by the whole listing (`benches/users.rs` measures the worst `PING` of another
//! client meanwhile). `ZSCAN` returns every member present from the start of the scan to its
//! end (some maybe twice: a listing drops repeats).
//!
//! # Markers
//!
//! A session whose id changes during a paged revocation could move from a member the scan has
//! not reached to one it has passed. So a revocation first raises a marker in the user's
//! marker set (`<prefix>r:<user key>`: a sorted set of `<o|a>:<handle>:<token>` scored by a
//! deadline in milliseconds, refreshed every page, lowered at the end, dropped past its
//! deadline if the revocation died). An id change of a session that a live marker chooses
//! gives up and ends the session: on one node inside its script; on Cluster after it indexed
//! the new id and before it deletes the old one. An id change that met no marker had indexed
//! its new id before the revocation began to read, so the scan finds it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, FromRedisValue, Value};

use super::fields::parse_tagged;
#[cfg(feature = "redis-cluster")]
use super::scripts::{DELETE_IF, MARKED};
use super::scripts::{INDEX_ADD, INDEX_REMOVE, MARK, PAGE_LIST, PAGE_REVOKE};
use super::RedisStore;
use crate::error::StoreError;
use crate::id::SessionId;
use crate::store::user::Choice;
use crate::store::{Handle, Meta, Record, UserKey};

/// About how many members one `ZSCAN` call answers and one page script reads.
pub(super) const PAGE: usize = 50;
/// How long a revocation's marker lives unless refreshed (it is, every page).
const MARK_TTL: Duration = Duration::from_secs(30);
/// Commands in flight at once when one operation needs one per session (Cluster).
#[cfg(feature = "redis-cluster")]
const FAN_OUT: usize = 32;

/// A session's entry in its user's index: its key without the prefix, and its handle.
fn member(id: &SessionId, handle: &Handle) -> String {
    let mut member = id.store_key();
    member.push(':');
    member.push_str(handle.as_str());
    member
}

/// The session key (without the prefix) and the handle of an index member.
#[cfg(feature = "redis-cluster")]
fn split_member(member: &str) -> Option<(&str, &str)> {
    member.split_once(':')
}

/// A revocation's marker: its choice and a token of its own (two revocations of one user at
/// once have two markers).
fn marker(choice: &Choice) -> String {
    let token = crate::id::SessionId::generate().log_tag();
    match choice {
        Choice::One(h) => format!("o:{h}:{token}"),
        Choice::AllBut(Some(h)) => format!("a:{h}:{token}"),
        Choice::AllBut(None) => format!("a::{token}"),
    }
}

impl RedisStore {
    /// The index key and the member of a tied session.
    pub(super) fn tie(&self, id: &SessionId, meta: &Meta) -> Option<(String, String)> {
        let user = meta.user.as_ref()?;
        Some((self.user_index_key(&user.key), member(id, &user.handle)))
    }

    /// Cluster: writes an index entry after its session was written (another slot); answers
    /// the index's size.
    pub(super) async fn index_add(
        &self,
        index: &str,
        expires_at: u64,
        member: &str,
    ) -> Result<i64, StoreError> {
        self.eval::<i64>(&INDEX_ADD, &[index], |cmd| {
            cmd.arg(expires_at).arg(member);
        })
        .await
    }

    /// Cluster: takes `members` out of an index.
    pub(super) async fn index_remove(
        &self,
        index: &str,
        members: &[String],
    ) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        self.eval::<i64>(&INDEX_REMOVE, &[index], |cmd| {
            cmd.arg(members);
        })
        .await
        .map(drop)
    }
}

impl RedisStore {
    /// The key of a user's revocation markers: the prefix, `r:` and the hex of the
    /// [`UserKey`].
    pub(super) fn marker_key(&self, user: &UserKey) -> String {
        format!("{}r:{}", self.inner.prefix, user.hex())
    }

    /// One `ZSCAN` call: the next cursor (`"0"` at the end) and the members of this page.
    async fn scan_page(
        &self,
        index: &str,
        cursor: &str,
        pattern: Option<&str>,
    ) -> Result<(String, Vec<String>), StoreError> {
        let mut cmd = redis::cmd("ZSCAN");
        cmd.arg(index).arg(cursor);
        if let Some(pattern) = pattern {
            cmd.arg("MATCH").arg(pattern);
        }
        cmd.arg("COUNT").arg(PAGE);
        let (next, pairs): (String, Vec<String>) = self.run(cmd).await?;
        // Member, score, member, score, ..
        let members = pairs.into_iter().step_by(2).collect();
        Ok((next, members))
    }

    /// Every live session of `user`, a page at a time.
    pub(super) async fn list_user(&self, user: &UserKey) -> Result<Vec<Record>, StoreError> {
        let index = self.user_index_key(user);
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        let mut cursor = String::from("0");
        loop {
            let (next, members) = self.scan_page(&index, &cursor, None).await?;
            let fresh: Vec<String> = members
                .into_iter()
                .filter(|m| seen.insert(m.clone()))
                .collect();
            if !fresh.is_empty() {
                found.extend(self.list_page(&index, user, fresh).await?);
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
        Ok(found)
    }

    /// The sessions of one page of `user`'s index; stale members are taken out.
    async fn list_page(
        &self,
        index: &str,
        user: &UserKey,
        members: Vec<String>,
    ) -> Result<Vec<Record>, StoreError> {
        #[cfg(feature = "redis-cluster")]
        if self.on_cluster() {
            return self.cluster_list_page(index, user, members).await;
        }
        let replies: Vec<Value> = self
            .eval(&PAGE_LIST, &[index], |cmd| {
                cmd.arg(&self.inner.prefix).arg(user.hex()).arg(&members);
            })
            .await?;
        let mut found = Vec::with_capacity(replies.len());
        for reply in replies {
            let fields =
                Vec::<(Vec<u8>, Vec<u8>)>::from_redis_value(reply).map_err(StoreError::new)?;
            if let Some(record) = parse_tagged(fields, &|| user.log_tag()) {
                if record.meta.user.as_ref().is_some_and(|u| u.key == *user) {
                    found.push(record);
                }
            }
        }
        Ok(found)
    }

    /// Ends the sessions of `user` that `choice` picks; answers how many ended. The marker is
    /// raised first and lowered at the end (see the [module docs](self)).
    pub(super) async fn revoke_where(
        &self,
        user: &UserKey,
        choice: &Choice,
    ) -> Result<usize, StoreError> {
        let marker = marker(choice);
        // The sessions it ends are found by the scripts: a read cache empties (see `cache`).
        let _cached = self.cache().map(|cache| cache.clearing());
        self.mark(user, &marker, true).await?;
        let ended = self.revoke_pages(user, choice, &marker).await;
        if let Err(e) = self.mark(user, &marker, false).await {
            // It goes by itself at its deadline; until then it only makes id changes of the
            // sessions it chose give up, and those sessions have ended.
            tracing::warn!(user = %user.log_tag(), error = %e, "revocation marker not lowered");
        }
        ended
    }

    async fn revoke_pages(
        &self,
        user: &UserKey,
        choice: &Choice,
        marker: &str,
    ) -> Result<usize, StoreError> {
        let index = self.user_index_key(user);
        // One session: only the members with its handle (`ZSCAN .. MATCH`, on the server).
        let pattern = match choice {
            Choice::One(h) => Some(format!("*:{h}")),
            Choice::AllBut(_) => None,
        };
        let mut ended = 0;
        let mut cursor = String::from("0");
        let mut marked_at = Instant::now();
        loop {
            let (next, members) = self.scan_page(&index, &cursor, pattern.as_deref()).await?;
            if !members.is_empty() {
                ended += self.revoke_page(&index, user, choice, members).await?;
                if matches!(choice, Choice::One(_)) && ended > 0 {
                    break;
                }
            }
            if next == "0" {
                break;
            }
            cursor = next;
            if marked_at.elapsed() > MARK_TTL / 3 {
                self.mark(user, marker, true).await?;
                marked_at = Instant::now();
            }
        }
        Ok(ended)
    }

    /// Ends the chosen sessions of one page; answers how many ended.
    async fn revoke_page(
        &self,
        index: &str,
        user: &UserKey,
        choice: &Choice,
        members: Vec<String>,
    ) -> Result<usize, StoreError> {
        #[cfg(feature = "redis-cluster")]
        if self.on_cluster() {
            return self.cluster_revoke_page(index, user, choice, members).await;
        }
        let (one, handle) = match choice {
            Choice::One(h) => (1, Some(h)),
            Choice::AllBut(h) => (0, h.as_ref()),
        };
        let ended: i64 = self
            .eval(&PAGE_REVOKE, &[index], |cmd| {
                cmd.arg(&self.inner.prefix)
                    .arg(user.hex())
                    .arg(one)
                    .arg(handle.map_or("", Handle::as_str))
                    .arg(&members);
            })
            .await?;
        Ok(usize::try_from(ended).unwrap_or(0))
    }

    /// Raises (or refreshes) `marker`, or lowers it.
    async fn mark(&self, user: &UserKey, marker: &str, raise: bool) -> Result<(), StoreError> {
        let key = self.marker_key(user);
        self.eval::<i64>(&MARK, &[&key], |cmd| {
            cmd.arg(marker)
                .arg(u8::from(raise))
                .arg(MARK_TTL.as_millis() as u64);
        })
        .await
        .map(drop)
    }
}

#[cfg(feature = "redis-cluster")]
impl RedisStore {
    /// Cluster: whether a revocation in progress ends `user`'s session with `handle`.
    pub(super) async fn marked(&self, user: &UserKey, handle: &Handle) -> Result<bool, StoreError> {
        let key = self.marker_key(user);
        let marked: i64 = self
            .eval(&MARKED, &[&key], |cmd| {
                cmd.arg(handle.as_str());
            })
            .await?;
        Ok(marked == 1)
    }

    /// Cluster: the sessions of one page, each read on its own slot (up to [`FAN_OUT`] in
    /// flight); the stale members are taken out.
    async fn cluster_list_page(
        &self,
        index: &str,
        user: &UserKey,
        members: Vec<String>,
    ) -> Result<Vec<Record>, StoreError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let fetched: Vec<(String, Option<Record>)> = stream::iter(members)
            .map(|member| self.entry_record(member, *user))
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        let mut found = Vec::with_capacity(fetched.len());
        let mut stale = Vec::new();
        for (member, record) in fetched {
            match record {
                Some(record) => found.push(record),
                None => stale.push(member),
            }
        }
        self.index_remove(index, &stale).await?;
        Ok(found)
    }

    /// Cluster: one session of an index member, if it still belongs to `user` under the
    /// member's handle.
    async fn entry_record(
        &self,
        member: String,
        user: UserKey,
    ) -> Result<(String, Option<Record>), StoreError> {
        let Some((session, handle)) = split_member(&member) else {
            return Ok((member, None));
        };
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(format!("{}{session}", self.inner.prefix));
        let fields: Vec<(Vec<u8>, Vec<u8>)> = self.run(cmd).await?;
        let record = parse_tagged(fields, &|| session.chars().take(8).collect())
            .filter(|r| belongs(r, &user, handle));
        Ok((member, record))
    }

    /// Cluster: ends the chosen sessions of one page, each only if it still belongs to the
    /// user under that handle (a script on its slot), and takes the chosen members out.
    async fn cluster_revoke_page(
        &self,
        index: &str,
        user: &UserKey,
        choice: &Choice,
        members: Vec<String>,
    ) -> Result<usize, StoreError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let hex = user.hex();
        let picked: Vec<String> = members
            .into_iter()
            .filter(|m| {
                split_member(m)
                    .is_none_or(|(_, h)| Handle::parse(h).is_none_or(|h| choice.ends(&h)))
            })
            .collect();
        let targets: Vec<(String, String)> = picked
            .iter()
            .filter_map(|m| split_member(m))
            .map(|(session, handle)| (format!("{}{session}", self.inner.prefix), handle.to_owned()))
            .collect();
        let ended: Vec<i64> = stream::iter(targets)
            .map(|(key, handle)| self.delete_if(key, hex.clone(), handle))
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        self.index_remove(index, &picked).await?;
        Ok(ended.iter().filter(|n| **n == 1).count())
    }

    /// Cluster: deletes the session `key` if it still belongs to the user `hex` under
    /// `handle`; 1 when it did.
    async fn delete_if(&self, key: String, hex: String, handle: String) -> Result<i64, StoreError> {
        self.eval(&DELETE_IF, &[&key], |cmd| {
            cmd.arg(&hex).arg(&handle);
        })
        .await
    }
}

/// Whether `record` is a session of `user` under `handle` (an index entry may be stale).
#[cfg(feature = "redis-cluster")]
fn belongs(record: &Record, user: &UserKey, handle: &str) -> bool {
    record
        .meta
        .user
        .as_ref()
        .is_some_and(|u| u.key == *user && u.handle.as_str() == handle)
}
