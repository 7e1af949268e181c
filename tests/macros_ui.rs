//! Misuse of `#[runtime::main]` and `#[runtime::test]` fails to compile with
//! an error pointing at the cause. Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test --test macros_ui`, then review the diff.

#[test]
fn misuse_is_a_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
