//! What the benches that print tables after criterion read from their own timing loops
//! (`iter_custom`): `benches/sessions.rs` and `benches/helpers.rs` use this one module.

/// The median of the last `samples` values of `all`, `None` when there are none. A timing loop
/// that records ns per request on every call gives criterion's samples as its last `samples`
/// values: criterion calls it during its warm-up first, then exactly once per sample.
pub fn median_of_last(all: &[f64], samples: usize) -> Option<f64> {
    let mut last = all[all.len().saturating_sub(samples)..].to_vec();
    last.sort_by(f64::total_cmp);
    let n = last.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(last[n / 2]),
        _ => Some((last[n / 2 - 1] + last[n / 2]) / 2.0),
    }
}
