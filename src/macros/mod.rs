//! The macros a tokio program reaches for: [`select!`](crate::select),
//! [`join!`](crate::join) and [`try_join!`](crate::try_join), all
//! `macro_rules!`, exported at the crate root.

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
