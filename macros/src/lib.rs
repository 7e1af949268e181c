//! Attribute macros for the `runtime` crate: `#[runtime::main]` and
//! `#[runtime::test]`.
//!
//! Both turn an `async fn` into a plain fn that builds a
//! `runtime::Runtime` and drives the body on it. Use them through the facade
//! (`runtime::main`, `runtime::test`); the expansion names `::runtime::...`
//! paths, so this crate is not useful on its own.
//!
//! ```ignore
//! #[runtime::main(cores = 4)]
//! async fn main() {
//!     println!("hello from core {}", runtime::current_core());
//! }
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod entry;
mod options;

use proc_macro::TokenStream;

use crate::entry::Entry;

/// Runs `async fn main` on a `runtime::Runtime`.
///
/// The function becomes a sync `fn main` with the same signature and return
/// type, which builds a runtime and drives the body to completion:
///
/// ```ignore
/// #[runtime::main]
/// async fn main() -> std::io::Result<()> {
///     runtime::time::sleep(std::time::Duration::from_millis(10)).await;
///     Ok(())
/// }
/// ```
///
/// expands to roughly
///
/// ```ignore
/// fn main() -> std::io::Result<()> {
///     let body = async move {
///         runtime::time::sleep(std::time::Duration::from_millis(10)).await;
///         Ok(())
///     };
///     let runtime = runtime::Runtime::builder()
///         .cores(1)
///         .build()
///         .expect("failed to build the runtime");
///     runtime.block_on(body)
/// }
/// ```
///
/// # Options
///
/// - `cores = N`, an integer literal of at least 1 (default 1). With `N > 1`
///   every core runs its own copy of the body through
///   `Runtime::run_on_all_cores`, which is how a thread-per-core server starts
///   one accept loop per core. The body must then be `'static` (it is: `main`
///   takes no arguments), its output `Send`, and the return type `()` or
///   `Result<(), E>`: the first error in core order is returned, or `Ok(())`.
/// - `pin = true|false` pins each core's thread to a CPU
///   (`Builder::pin_cores`); when left out the builder's default applies.
///
/// ```ignore
/// #[runtime::main(cores = 4, pin = true)]
/// async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     // Runs once on each of the 4 cores.
///     println!("core {} is up", runtime::current_core());
///     Ok(())
/// }
/// ```
///
/// The examples are marked `ignore` because they need the `runtime` facade;
/// `tests/macros.rs` and `examples/hello.rs` in the workspace run them.
///
/// # Panics
///
/// The generated `main` panics if the runtime cannot be built (for example
/// when a core's thread cannot be spawned), and re-panics if the body
/// panicked on any core.
///
/// # Compile errors
///
/// The attribute rejects a fn without `async`, a `main` with arguments or
/// generic parameters, unknown options and out-of-range values, each error
/// pointing at the offending tokens.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Entry::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a fresh `runtime::Runtime`.
///
/// The function becomes a `#[test] fn` with the same name, attributes, doc
/// comments and return type; every test gets its own runtime, so tests do
/// not share state through it.
///
/// ```ignore
/// #[runtime::test]
/// async fn sleeps() {
///     runtime::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
///
/// #[runtime::test]
/// #[should_panic(expected = "boom")]
/// async fn panics() {
///     panic!("boom");
/// }
///
/// #[runtime::test]
/// async fn returns_result() -> std::io::Result<()> {
///     Ok(())
/// }
/// ```
///
/// # Options
///
/// The same as [`macro@main`]: `cores = N` runs the body once on each of `N`
/// cores (the test then returns `()` or `Result<(), E>`, and fails if any core
/// fails), `pin = true|false` pins the cores' threads.
///
/// ```ignore
/// #[runtime::test(cores = 2)]
/// async fn runs_on_every_core() {
///     assert!(runtime::current_core() < 2);
/// }
/// ```
///
/// # Panics
///
/// The test panics, and so fails, if the runtime cannot be built or the body
/// panicked on any core.
///
/// # Compile errors
///
/// The attribute rejects a fn without `async`, a test with arguments or
/// generic parameters, a test that also carries `#[test]`, unknown options
/// and out-of-range values.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Entry::Test, args.into(), item.into()).into()
}
