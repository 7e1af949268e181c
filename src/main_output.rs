//! How `#[runtime::main(cores = N, each_core)]` and
//! `#[runtime::test(cores = N, each_core)]` turn the `N` per-core results of
//! their body into the one value the function returns.

/// A return type that the results of every core can be reduced to.
///
/// Implemented for `()` and for `Result<(), E>`, where the first error in core
/// order wins. Other types would need a rule for which core's value stands for
/// all of them, so they are rejected at compile time.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "with `each_core`, main must return () or Result<(), E>, not `{Self}`",
    label = "every core returns one of these and they cannot be combined into one",
    note = "with `each_core` the body runs once per core; return `()` or `Result<(), E>`, or drop `each_core` to run the body once, on core 0"
)]
pub trait MainOutput: Sized {
    /// Reduces the per-core outputs, given in core order, to one.
    fn combine(outputs: Vec<Self>) -> Self;
}

impl MainOutput for () {
    fn combine(_outputs: Vec<()>) {}
}

impl<E> MainOutput for Result<(), E> {
    fn combine(outputs: Vec<Self>) -> Self {
        // `collect` stops at the first `Err`, which is the lowest core's error.
        outputs.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::MainOutput;

    #[test]
    fn unit_combines_to_unit() {
        <() as MainOutput>::combine(vec![(), (), ()]);
        <() as MainOutput>::combine(Vec::new());
    }

    #[test]
    fn result_is_ok_only_if_every_core_is_ok() {
        assert_eq!(Result::<(), u8>::combine(vec![Ok(()), Ok(())]), Ok(()));
        assert_eq!(Result::<(), u8>::combine(Vec::new()), Ok(()));
    }

    #[test]
    fn result_returns_the_first_error_in_core_order() {
        let outputs = vec![Ok(()), Err(1), Ok(()), Err(3)];
        assert_eq!(Result::<(), u8>::combine(outputs), Err(1));
    }
}
