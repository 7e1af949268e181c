//! The macros a tokio program reaches for: [`select!`](crate::select),
//! [`join!`](crate::join), [`try_join!`](crate::try_join) and
//! [`pin!`](crate::pin), all `macro_rules!`, exported at the crate root.

mod join;
mod select;

/// The first branch `select!` polls: a random one, so that no branch
/// starves, or the first with `biased;`.
#[doc(hidden)]
pub fn select_start(biased: bool, branches: u32) -> u32 {
    if biased {
        0
    } else {
        fastrand::u32(..branches)
    }
}

/// Pins values on the stack in place, as tokio's `pin!`: each named
/// variable becomes a `Pin<&mut _>` of itself, to poll by `&mut` in a
/// `select!` loop. The same as `let mut x = std::pin::pin!(x);`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[runtime::main]
/// async fn main() {
///     let deadline = runtime::time::sleep(Duration::from_millis(20));
///     runtime::pin!(deadline);
///     let mut ticks = 0;
///     loop {
///         runtime::select! {
///             _ = &mut deadline => break,
///             _ = runtime::time::sleep(Duration::from_millis(1)) => ticks += 1,
///         }
///     }
///     assert!(ticks > 0);
/// }
/// ```
#[macro_export]
macro_rules! pin {
    ($($x:ident),* $(,)?) => {
        $(
            let mut $x = ::core::pin::pin!($x);
        )*
    };
}
