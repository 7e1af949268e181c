//! `join!` and `try_join!`: run several futures in one task, wait for all.

/// Runs several futures at once, in the current task, and waits for all of
/// them; returns their outputs as a tuple, in the order written.
///
/// As tokio's: the futures are polled round-robin from a different one
/// each time, or in the order written after `biased;`. Up to 64 futures.
/// To run them on other cores or in parallel, spawn them and join the
/// handles.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[runtime::main]
/// async fn main() {
///     let (a, b) = runtime::join!(
///         async {
///             runtime::time::sleep(Duration::from_millis(2)).await;
///             "slow"
///         },
///         async { 7 },
///     );
///     assert_eq!((a, b), ("slow", 7));
/// }
/// ```
#[macro_export]
macro_rules! join {
    (biased; $($f:expr),+ $(,)?) => {
        $crate::__join_parse!(@{ true; plain; []; [(0) (1) (2) (3) (4) (5) (6) (7) (8) (9) (10) (11) (12) (13) (14) (15) (16) (17) (18) (19) (20) (21) (22) (23) (24) (25) (26) (27) (28) (29) (30) (31) (32) (33) (34) (35) (36) (37) (38) (39) (40) (41) (42) (43) (44) (45) (46) (47) (48) (49) (50) (51) (52) (53) (54) (55) (56) (57) (58) (59) (60) (61) (62) (63)] } $($f,)+)
    };
    ($($f:expr),+ $(,)?) => {
        $crate::__join_parse!(@{ false; plain; []; [(0) (1) (2) (3) (4) (5) (6) (7) (8) (9) (10) (11) (12) (13) (14) (15) (16) (17) (18) (19) (20) (21) (22) (23) (24) (25) (26) (27) (28) (29) (30) (31) (32) (33) (34) (35) (36) (37) (38) (39) (40) (41) (42) (43) (44) (45) (46) (47) (48) (49) (50) (51) (52) (53) (54) (55) (56) (57) (58) (59) (60) (61) (62) (63)] } $($f,)+)
    };
}

/// Runs several fallible futures at once, in the current task, and waits
/// for all of them to succeed, or for the first error.
///
/// Every future's output is a `Result` with the same error type. Returns
/// `Ok` with the tuple of values, or the first `Err`, at which point the
/// other futures are dropped, as tokio's. Up to 64 futures; `biased;`
/// polls them in the order written.
///
/// # Examples
///
/// ```
/// use std::io;
///
/// async fn fetch(n: u32) -> io::Result<u32> {
///     if n == 0 {
///         return Err(io::Error::other("zero"));
///     }
///     Ok(n * 10)
/// }
///
/// #[runtime::main]
/// async fn main() {
///     let ok = runtime::try_join!(fetch(1), fetch(2));
///     assert_eq!(ok.unwrap(), (10, 20));
///     let err = runtime::try_join!(fetch(1), fetch(0), std::future::pending::<io::Result<u32>>());
///     assert_eq!(err.unwrap_err().to_string(), "zero");
/// }
/// ```
#[macro_export]
macro_rules! try_join {
    (biased; $($f:expr),+ $(,)?) => {
        $crate::__join_parse!(@{ true; try; []; [(0) (1) (2) (3) (4) (5) (6) (7) (8) (9) (10) (11) (12) (13) (14) (15) (16) (17) (18) (19) (20) (21) (22) (23) (24) (25) (26) (27) (28) (29) (30) (31) (32) (33) (34) (35) (36) (37) (38) (39) (40) (41) (42) (43) (44) (45) (46) (47) (48) (49) (50) (51) (52) (53) (54) (55) (56) (57) (58) (59) (60) (61) (62) (63)] } $($f,)+)
    };
    ($($f:expr),+ $(,)?) => {
        $crate::__join_parse!(@{ false; try; []; [(0) (1) (2) (3) (4) (5) (6) (7) (8) (9) (10) (11) (12) (13) (14) (15) (16) (17) (18) (19) (20) (21) (22) (23) (24) (25) (26) (27) (28) (29) (30) (31) (32) (33) (34) (35) (36) (37) (38) (39) (40) (41) (42) (43) (44) (45) (46) (47) (48) (49) (50) (51) (52) (53) (54) (55) (56) (57) (58) (59) (60) (61) (62) (63)] } $($f,)+)
    };
}

/// Numbers the futures of `join!`/`try_join!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_parse {
    (@{ $biased:tt; $kind:ident; [$($done:tt)*]; [$i:tt $($idx:tt)*] } $f:expr, $($rest:tt)*) => {
        $crate::__join_parse!(@{ $biased; $kind; [$($done)* [$i ($f)]]; [$($idx)*] } $($rest)*)
    };
    (@{ $biased:tt; $kind:ident; [$($done:tt)*]; $idx:tt }) => {
        $crate::__join_emit!($biased; $kind; $($done)*)
    };
    (@{ $biased:tt; $kind:ident; $done:tt; [] } $($rest:tt)+) => {
        ::core::compile_error!("`join!` and `try_join!` take at most 64 futures")
    };
}

/// Writes out `join!`/`try_join!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_emit {
    ($biased:tt; $kind:ident; $( [($n:tt) ($f:expr)] )+) => {{
        let mut __futures = (
            $( ::core::pin::pin!(::core::future::IntoFuture::into_future($f)), )+
        );
        let mut __outputs = ( $( $crate::__join_none!($n), )+ );
        let __count: u32 = [$($n),+].len() as u32;
        let mut __next: u32 = 0;
        ::core::future::poll_fn(|__cx| {
            // Round-robin: start from the next future each time, as tokio's.
            let __start = if $biased { 0 } else { __next };
            __next = (__next + 1) % __count;
            let mut __all_done = true;
            for __i in 0..__count {
                match (__start + __i) % __count {
                    $(
                        $n => {
                            if __outputs.$n.is_none() {
                                match ::core::future::Future::poll(__futures.$n.as_mut(), __cx) {
                                    ::core::task::Poll::Ready(__value) => {
                                        $crate::__join_store!($kind; __outputs.$n; __value);
                                    }
                                    ::core::task::Poll::Pending => __all_done = false,
                                }
                            }
                        }
                    )+
                    _ => ::core::unreachable!(),
                }
            }
            if !__all_done {
                return ::core::task::Poll::Pending;
            }
            let __all = ( $( __outputs.$n.take().expect("`join!` output taken once"), )+ );
            ::core::task::Poll::Ready($crate::__join_wrap!($kind; __all))
        })
        .await
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __join_none {
    ($n:tt) => {
        ::core::option::Option::None
    };
}

/// Keeps a finished future's output; `try_join!` returns at the first error.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_store {
    (plain; $slot:expr; $value:ident) => {
        $slot = ::core::option::Option::Some($value)
    };
    (try; $slot:expr; $value:ident) => {
        match $value {
            ::core::result::Result::Ok(__ok) => $slot = ::core::option::Option::Some(__ok),
            ::core::result::Result::Err(__err) => {
                return ::core::task::Poll::Ready(::core::result::Result::Err(__err));
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __join_wrap {
    (plain; $all:ident) => {
        $all
    };
    (try; $all:ident) => {
        ::core::result::Result::Ok($all)
    };
}
