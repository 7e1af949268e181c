//! `select!`: wait on several futures, run the branch of the first to
//! finish, as tokio's.

/// Waits on several futures at once and runs the branch of the first one
/// that completes and whose pattern matches; the other futures are dropped.
///
/// The syntax and the rules are tokio's:
///
/// ```text
/// runtime::select! {
///     biased;                                    // optional: poll in order
///     <pattern> = <future> (, if <precondition>)? => <handler>,
///     ...
///     else => <handler>                          // optional
/// }
/// ```
///
/// 1. Every precondition is evaluated; a branch whose precondition is false
///    is disabled for this call.
/// 2. Every `<future>` expression is evaluated (those of disabled branches
///    too) and turned into a future with `IntoFuture`.
/// 3. The enabled futures are polled, all in the one task, starting from a
///    **random branch** each time (so no branch starves), or in the order
///    written after `biased;`.
/// 4. When a future completes, its output is matched against the branch's
///    pattern. If it matches, every future is dropped and the handler runs
///    with the pattern's bindings; `break`, `continue`, `return` and `?` in
///    a handler act on the code around `select!`. If it does not match, that
///    branch is disabled and the others go on.
/// 5. When every branch is disabled, the `else` handler runs; without an
///    `else`, `select!` panics.
///
/// The futures are dropped before the handler runs, so a future may borrow
/// what the handler then uses mutably: `rx.recv()` in a `loop` works.
/// `select!` must be called inside an `async` context.
///
/// # Differences from tokio's
///
/// - At most 64 branches (tokio: 64 as well).
/// - Written with `macro_rules!` only (tokio's uses a proc macro to clean
///   its patterns). A branch costs one macro expansion step when its pattern
///   has at most five top-level tokens (`v`, `Some(v)`, `Ok((a, b))`,
///   `n @ 1..=5`), and one step per token beyond that: 64 branches fit the
///   default recursion limit, dozens of long patterns may need
///   `#![recursion_limit = "256"]`.
/// - The branch order is random per call from a per-thread generator
///   (`fastrand`), where tokio draws from its runtime's; there is no
///   seed to fix it. Use `biased;` for a deterministic order.
/// - A handler written as a block followed by more expression
///   (`=> { a }.b(),`) is read as the block alone, as with tokio.
///
/// # Cancel safety
///
/// Dropping the futures of the branches that lost is what `select!` does:
/// use futures that are cancel safe (their docs say so) when a lost branch
/// must not lose data, such as `recv` on this crate's channels.
///
/// # Panics
///
/// Panics when every branch is disabled and there is no `else` branch.
///
/// # Examples
///
/// A loop that reads from a channel until a shutdown signal or a timeout:
///
/// ```
/// use std::time::Duration;
/// use runtime::sync::{mpsc, oneshot};
///
/// #[runtime::main]
/// async fn main() {
///     let (tx, mut rx) = mpsc::channel(8);
///     let (stop, mut stopped) = oneshot::channel::<()>();
///     runtime::spawn(async move {
///         for i in 0..3 {
///             tx.send(i).await.unwrap();
///         }
///         stop.send(()).unwrap();
///     });
///     let mut sum = 0;
///     let mut open = true;
///     loop {
///         runtime::select! {
///             Some(i) = rx.recv(), if open => sum += i,
///             _ = &mut stopped => break,
///             _ = runtime::time::sleep(Duration::from_secs(5)) => panic!("timed out"),
///             else => open = false,
///         }
///     }
///     assert!(sum <= 3);
/// }
/// ```
#[macro_export]
macro_rules! select {
    (biased; $($input:tt)*) => {
        $crate::__select_parse!(@{ true; []; []; [(0 _0 T0) (1 _1 T1) (2 _2 T2) (3 _3 T3) (4 _4 T4) (5 _5 T5) (6 _6 T6) (7 _7 T7) (8 _8 T8) (9 _9 T9) (10 _10 T10) (11 _11 T11) (12 _12 T12) (13 _13 T13) (14 _14 T14) (15 _15 T15) (16 _16 T16) (17 _17 T17) (18 _18 T18) (19 _19 T19) (20 _20 T20) (21 _21 T21) (22 _22 T22) (23 _23 T23) (24 _24 T24) (25 _25 T25) (26 _26 T26) (27 _27 T27) (28 _28 T28) (29 _29 T29) (30 _30 T30) (31 _31 T31) (32 _32 T32) (33 _33 T33) (34 _34 T34) (35 _35 T35) (36 _36 T36) (37 _37 T37) (38 _38 T38) (39 _39 T39) (40 _40 T40) (41 _41 T41) (42 _42 T42) (43 _43 T43) (44 _44 T44) (45 _45 T45) (46 _46 T46) (47 _47 T47) (48 _48 T48) (49 _49 T49) (50 _50 T50) (51 _51 T51) (52 _52 T52) (53 _53 T53) (54 _54 T54) (55 _55 T55) (56 _56 T56) (57 _57 T57) (58 _58 T58) (59 _59 T59) (60 _60 T60) (61 _61 T61) (62 _62 T62) (63 _63 T63)] } $($input)*)
    };
    ($($input:tt)*) => {
        $crate::__select_parse!(@{ false; []; []; [(0 _0 T0) (1 _1 T1) (2 _2 T2) (3 _3 T3) (4 _4 T4) (5 _5 T5) (6 _6 T6) (7 _7 T7) (8 _8 T8) (9 _9 T9) (10 _10 T10) (11 _11 T11) (12 _12 T12) (13 _13 T13) (14 _14 T14) (15 _15 T15) (16 _16 T16) (17 _17 T17) (18 _18 T18) (19 _19 T19) (20 _20 T20) (21 _21 T21) (22 _22 T22) (23 _23 T23) (24 _24 T24) (25 _25 T25) (26 _26 T26) (27 _27 T27) (28 _28 T28) (29 _29 T29) (30 _30 T30) (31 _31 T31) (32 _32 T32) (33 _33 T33) (34 _34 T34) (35 _35 T35) (36 _36 T36) (37 _37 T37) (38 _38 T38) (39 _39 T39) (40 _40 T40) (41 _41 T41) (42 _42 T42) (43 _43 T43) (44 _44 T44) (45 _45 T45) (46 _46 T46) (47 _47 T47) (48 _48 T48) (49 _49 T49) (50 _50 T50) (51 _51 T51) (52 _52 T52) (53 _53 T53) (54 _54 T54) (55 _55 T55) (56 _56 T56) (57 _57 T57) (58 _58 T58) (59 _59 T59) (60 _60 T60) (61 _61 T61) (62 _62 T62) (63 _63 T63)] } $($input)*)
    };
}

/// Reads `select!`'s branches; see [`select!`](crate::select).
///
/// A pattern is kept as raw tokens (not a `pat` fragment) so that
/// `__select_clean` can look inside it. Patterns of up to five top-level
/// tokens (`v`, `_`, `Some(v)`, `Ok((a, b))`, `n @ 1..=5`...) are read in the
/// same step as the rest of their branch: one macro step per branch keeps a
/// 64-branch `select!` under the default recursion limit. Longer patterns
/// are read token by token.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // Every branch read.
    (@{ $biased:tt; $else:tt; $branches:tt; $idx:tt }) => {
        $crate::__select_emit!($biased; $else; $branches)
    };

    // `else => handler`
    (@{ $biased:tt; []; $branches:tt; $idx:tt } else => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; [$h]; $branches; $idx } $($rest)*)
    };
    (@{ $biased:tt; []; $branches:tt; $idx:tt } else => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; [$h]; $branches; $idx } $($rest)*)
    };
    (@{ $biased:tt; []; $branches:tt; $idx:tt } else => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; [$h]; $branches; $idx } $($rest)*)
    };
    (@{ $biased:tt; []; $branches:tt; $idx:tt } else => $h:expr) => {
        $crate::__select_parse!(@{ $biased; [$h]; $branches; $idx })
    };

    // More than 64 branches.
    (@{ $biased:tt; $else:tt; $b:tt; [] } $($rest:tt)+) => {
        ::core::compile_error!("`select!` takes at most 64 branches")
    };
    // A branch whose pattern has 1 top-level token.
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt =
        $f:expr, if $c:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt =
        $f:expr, if $c:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt =
        $f:expr, if $c:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt =
        $f:expr, if $c:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1] ($f) ($c) ($h)]]; [$($idx)*] })
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt =
        $f:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt =
        $f:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt =
        $f:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt =
        $f:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1] ($f) (true) ($h)]]; [$($idx)*] })
    };
    // A branch whose pattern has 2 top-level tokens.
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt =
        $f:expr, if $c:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt =
        $f:expr, if $c:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt =
        $f:expr, if $c:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt =
        $f:expr, if $c:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2] ($f) ($c) ($h)]]; [$($idx)*] })
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt =
        $f:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt =
        $f:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt =
        $f:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt =
        $f:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2] ($f) (true) ($h)]]; [$($idx)*] })
    };
    // A branch whose pattern has 3 top-level tokens.
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt =
        $f:expr, if $c:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt =
        $f:expr, if $c:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt =
        $f:expr, if $c:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt =
        $f:expr, if $c:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3] ($f) ($c) ($h)]]; [$($idx)*] })
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt =
        $f:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt =
        $f:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt =
        $f:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt =
        $f:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3] ($f) (true) ($h)]]; [$($idx)*] })
    };
    // A branch whose pattern has 4 top-level tokens.
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt =
        $f:expr, if $c:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt =
        $f:expr, if $c:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt =
        $f:expr, if $c:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt =
        $f:expr, if $c:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4] ($f) ($c) ($h)]]; [$($idx)*] })
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt =
        $f:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt =
        $f:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt =
        $f:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt =
        $f:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4] ($f) (true) ($h)]]; [$($idx)*] })
    };
    // A branch whose pattern has 5 top-level tokens.
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt $p5:tt =
        $f:expr, if $c:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4 $p5] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt $p5:tt =
        $f:expr, if $c:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4 $p5] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt $p5:tt =
        $f:expr, if $c:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4 $p5] ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt $p5:tt =
        $f:expr, if $c:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4 $p5] ($f) ($c) ($h)]]; [$($idx)*] })
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt $p5:tt =
        $f:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4 $p5] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt $p5:tt =
        $f:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4 $p5] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt $p5:tt =
        $f:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4 $p5] ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p1:tt $p2:tt $p3:tt $p4:tt $p5:tt =
        $f:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i [$p1 $p2 $p3 $p4 $p5] ($f) (true) ($h)]]; [$($idx)*] })
    };
    // A longer pattern: read it token by token up to `=`.
    (@{ $($state:tt)* } $($rest:tt)+) => {
        $crate::__select_parse!(@pat { $($state)* } [] $($rest)+)
    };
    (@pat $state:tt [$($p:tt)+] = $($rest:tt)+) => {
        $crate::__select_parse!(@long $state [$($p)+] $($rest)+)
    };
    (@pat $state:tt [$($p:tt)*] $t:tt $($rest:tt)+) => {
        $crate::__select_parse!(@pat $state [$($p)* $t] $($rest)+)
    };
    // Then the rest of a branch with a long pattern.
    (@long { $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p:tt
        $f:expr, if $c:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i $p ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@long { $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p:tt
        $f:expr, if $c:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i $p ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@long { $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p:tt
        $f:expr, if $c:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i $p ($f) ($c) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@long { $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p:tt
        $f:expr, if $c:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i $p ($f) ($c) ($h)]]; [$($idx)*] })
    };
    (@long { $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p:tt
        $f:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i $p ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@long { $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p:tt
        $f:expr => $h:block $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i $p ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@long { $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p:tt
        $f:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i $p ($f) (true) ($h)]]; [$($idx)*] } $($rest)*)
    };
    (@long { $biased:tt; $else:tt; [$($b:tt)*]; [$i:tt $($idx:tt)*] } $p:tt
        $f:expr => $h:expr) => {
        $crate::__select_parse!(@{ $biased; $else; [$($b)* [$i $p ($f) (true) ($h)]]; [$($idx)*] })
    };
}

/// Writes out a parsed `select!`; see [`select!`](crate::select).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_emit {
    ($biased:tt; [$($else:tt)*];
     [$( [($n:tt $v:ident $t:ident) [$($p:tt)+] ($f:expr) ($c:expr) ($h:expr)] )+]) => {{
        #[allow(non_camel_case_types, clippy::enum_variant_names)]
        enum __SelectOut<$($t,)+> {
            $($v($t),)+
            Disabled,
        }
        let __select_out = {
            let mut __disabled: u64 = 0;
            $(
                if !$c {
                    __disabled |= 1u64 << $n;
                }
            )+
            let mut __futures = (
                $( ::core::pin::pin!(::core::future::IntoFuture::into_future($f)), )+
            );
            let __count: u32 = [$($n),+].len() as u32;
            ::core::future::poll_fn(|__cx| {
                let __start = $crate::__private::select_start($biased, __count);
                let mut __pending = false;
                for __i in 0..__count {
                    match (__start + __i) % __count {
                        $(
                            $n => {
                                if __disabled & (1u64 << $n) != 0 {
                                    continue;
                                }
                                let __value = match ::core::future::Future::poll(
                                    __futures.$n.as_mut(),
                                    __cx,
                                ) {
                                    ::core::task::Poll::Ready(__value) => __value,
                                    ::core::task::Poll::Pending => {
                                        __pending = true;
                                        continue;
                                    }
                                };
                                // Done either way: a branch whose pattern
                                // does not match is disabled.
                                __disabled |= 1u64 << $n;
                                match &__value {
                                    #[allow(unused_variables)]
                                    $crate::__select_clean!($($p)+) => {}
                                    #[allow(unreachable_patterns)]
                                    _ => continue,
                                }
                                return ::core::task::Poll::Ready(__SelectOut::$v(__value));
                            }
                        )+
                        _ => ::core::unreachable!(),
                    }
                }
                if __pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(__SelectOut::Disabled)
                }
            })
            .await
        };
        match __select_out {
            $( __SelectOut::$v($($p)+) => $h, )+
            __SelectOut::Disabled => $crate::__select_else!($($else)*),
            #[allow(unreachable_patterns)]
            _ => ::core::unreachable!("`select!`: a pattern matched a value by reference, not by value"),
        }
    }};
}

/// The `else` handler, or the panic tokio's `select!` gives without one.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_else {
    () => {
        ::core::panic!("all branches are disabled and there is no else branch")
    };
    ($h:expr) => {
        $h
    };
}

/// A `select!` pattern without `mut` and `ref`, to test the output by
/// reference before moving it (tokio does the same with a proc macro).
///
/// It walks the tokens with a stack of open groups: `@ @` closes one, a
/// sequence no pattern contains.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_clean {
    // Done: emit the pattern.
    (@[] [$($out:tt)*]) => {
        $($out)*
    };
    // A group ends: wrap what was cleaned inside it, back in the outer one.
    (@[[$($outer:tt)*] paren $($stack:tt)*] [$($inner:tt)*] @ @ $($rest:tt)*) => {
        $crate::__select_clean!(@[$($stack)*] [$($outer)* ($($inner)*)] $($rest)*)
    };
    (@[[$($outer:tt)*] bracket $($stack:tt)*] [$($inner:tt)*] @ @ $($rest:tt)*) => {
        $crate::__select_clean!(@[$($stack)*] [$($outer)* [$($inner)*]] $($rest)*)
    };
    (@[[$($outer:tt)*] brace $($stack:tt)*] [$($inner:tt)*] @ @ $($rest:tt)*) => {
        $crate::__select_clean!(@[$($stack)*] [$($outer)* {$($inner)*}] $($rest)*)
    };
    // Binding modes go: the reference match binds by reference anyway.
    (@$stack:tt $out:tt mut $($rest:tt)*) => {
        $crate::__select_clean!(@$stack $out $($rest)*)
    };
    (@$stack:tt $out:tt ref $($rest:tt)*) => {
        $crate::__select_clean!(@$stack $out $($rest)*)
    };
    // A group begins.
    (@[$($stack:tt)*] $out:tt ($($inner:tt)*) $($rest:tt)*) => {
        $crate::__select_clean!(@[$out paren $($stack)*] [] $($inner)* @ @ $($rest)*)
    };
    (@[$($stack:tt)*] $out:tt [$($inner:tt)*] $($rest:tt)*) => {
        $crate::__select_clean!(@[$out bracket $($stack)*] [] $($inner)* @ @ $($rest)*)
    };
    (@[$($stack:tt)*] $out:tt {$($inner:tt)*} $($rest:tt)*) => {
        $crate::__select_clean!(@[$out brace $($stack)*] [] $($inner)* @ @ $($rest)*)
    };
    // Any other token stays.
    (@$stack:tt [$($out:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__select_clean!(@$stack [$($out)* $t] $($rest)*)
    };
    // Entry.
    ($($p:tt)+) => {
        $crate::__select_clean!(@[] [] $($p)+)
    };
}
