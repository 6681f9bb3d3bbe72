//! Compile-time behaviour of `#[derive(Session)]` and `#[session(..)]`: what compiles, and the
//! errors (with their spans) for what does not. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p actix-typed-session-derive --test compiletest`, then read them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/derive/pass/*.rs");
    t.compile_fail("tests/ui/derive/fail/*.rs");
    t.pass("tests/ui/attr/pass/*.rs");
    t.compile_fail("tests/ui/attr/fail/*.rs");
}
