//! A new visitor's id, drawn two ways in one run: one `getrandom` system call per id (what
//! `SessionId::generate` did before) and the thread's ChaCha12 generator seeded from the OS
//! (`rand::thread_rng()`, what it does now), and `SessionId::generate` itself. Prints the
//! ratio. `cargo bench --bench ids` (about 20 s).

use std::time::Duration;

use actix_typed_session::SessionId;
use std::hint::black_box;

use criterion::Criterion;
use rand::RngCore as _;

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let mut group = c.benchmark_group("new id (32 bytes)");
    group.bench_function("getrandom (a system call)", |b| {
        b.iter(|| {
            let mut raw = [0u8; 32];
            getrandom::getrandom(&mut raw).unwrap();
            black_box(raw)
        })
    });
    group.bench_function("thread_rng (ChaCha12 seeded from the OS)", |b| {
        b.iter(|| {
            let mut raw = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut raw);
            black_box(raw)
        })
    });
    group.bench_function("SessionId::generate", |b| {
        b.iter(|| black_box(SessionId::generate()))
    });
    group.finish();
    c.final_summary();
    // The ratio, from one more timed loop of each in this run.
    let time = |f: &dyn Fn()| {
        let start = std::time::Instant::now();
        for _ in 0..200_000 {
            f();
        }
        start.elapsed().as_nanos() as f64 / 200_000.0
    };
    let os = time(&|| {
        let mut raw = [0u8; 32];
        getrandom::getrandom(&mut raw).unwrap();
        black_box(raw);
    });
    let user = time(&|| {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        black_box(raw);
    });
    println!(
        "\nnew id: getrandom {os:.0} ns, thread_rng {user:.0} ns: {:.1}x faster",
        os / user
    );
}
