//! RedisStore on a real three-node Redis Cluster (feature `redis-cluster`): the whole conformance
//! suite, run in sequence on one cluster that the test starts and stops.

mod support;

use std::sync::Arc;

use actix_typed_session::store::{deadpool_redis, RedisStore};
use actix_typed_session::SessionId;

use support::redis::RedisCluster;
use support::*;

/// A store with its own prefix on `cluster` (a fresh pool per case: each case runs its own app).
fn store_on(cluster: &Arc<RedisCluster>) -> Guarded<RedisStore> {
    let pool = deadpool_redis::cluster::Config::from_urls(cluster.urls())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let prefix = format!("ats-cluster:{}:", SessionId::generate().log_tag());
    Guarded {
        store: RedisStore::cluster(pool).prefix(prefix).build(),
        guard: cluster.clone(),
    }
}

actix_typed_session::conformance_suite!(sequential let cluster = Arc::new(RedisCluster::spawn()); store_on(&cluster));
