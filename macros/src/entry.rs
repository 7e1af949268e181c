//! Checks an `async fn` entry point and rewrites it into a sync fn that drives
//! its body on a `runtime::Runtime`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

use crate::options::Options;

/// Which attribute is being expanded; they differ only in their checks and in
/// whether `#[test]` is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    Main,
    Test,
}

impl Entry {
    fn attribute(self) -> &'static str {
        match self {
            Entry::Main => "`#[runtime::main]`",
            Entry::Test => "`#[runtime::test]`",
        }
    }

    fn function_name(self) -> &'static str {
        match self {
            Entry::Main => "the `main` function",
            Entry::Test => "a test function",
        }
    }
}

/// Expands `#[runtime::main(args)]` or `#[runtime::test(args)]` on `item`.
pub(crate) fn expand(entry: Entry, args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        // Keep the item so that only this error is reported about it.
        Err(error) => {
            let error = match syn::parse2::<syn::Item>(item.clone()) {
                Ok(other) => syn::Error::new_spanned(
                    other,
                    format_args!("{} can only be applied to an `async fn`", entry.attribute()),
                ),
                Err(_) => error,
            };
            let error = error.to_compile_error();
            return quote!(#error #item);
        }
    };
    let options = Options::parse(args).and_then(|options| {
        if entry == Entry::Main && options.start_paused {
            return Err(syn::Error::new(
                Span::call_site(),
                "`start_paused` is only valid on `#[runtime::test]`",
            ));
        }
        Ok(options)
    });
    let checked = check_signature(entry, &function);
    match (options, checked) {
        (Ok(options), Ok(())) => rewrite(entry, &options, function),
        (Err(error), Ok(())) | (Ok(_), Err(error)) => with_error(entry, error, function),
        (Err(mut error), Err(more)) => {
            error.combine(more);
            with_error(entry, error, function)
        }
    }
}

/// Reports every problem with the signature at once, each pointing at its cause.
fn check_signature(entry: Entry, function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    let name = entry.function_name();
    let mut errors = Vec::new();
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    if !sig.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            format_args!("{name} cannot accept arguments"),
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format_args!("{name} cannot have generic parameters"),
        ));
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            format_args!("{name} cannot have a `where` clause"),
        ));
    }
    if entry == Entry::Test {
        if let Some(attr) = function.attrs.iter().find(|attr| is_test_attribute(attr)) {
            errors.push(syn::Error::new_spanned(
                attr,
                "a second test attribute is supplied; remove it, `#[runtime::test]` already adds `#[test]`",
            ));
        }
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            errors.for_each(|error| first.combine(error));
            Err(first)
        }
    }
}

/// `#[test]`, and also `#[tokio::test]`, `#[runtime::test]` and the like,
/// which would each wrap the function a second time.
fn is_test_attribute(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|last| last.ident == "test")
}

/// The expansion proper:
///
/// ```text
/// fn main() -> R {
///     let body = async move { ... };
///     Runtime::builder().cores(N).build().expect(..).block_on(body)
/// }
/// ```
///
/// The body runs once, on core 0, as `#[tokio::main]`'s does; the other
/// cores are up and serve `spawn_on`. With `each_core`, every core runs its
/// own copy of the body and the per-core outputs are reduced by
/// `MainOutput::combine`.
fn rewrite(entry: Entry, options: &Options, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = function;
    sig.asyncness = None;

    let (output_ty, output_span) = match &sig.output {
        ReturnType::Default => (quote!(()), Span::call_site()),
        ReturnType::Type(_, ty) => (ty.to_token_stream(), ty.span()),
    };
    // Type errors about the body's value are reported where the body ends
    // rather than on the attribute.
    let body_end = block
        .stmts
        .last()
        .map_or_else(|| block.brace_token.span.close(), Spanned::span);

    let cores = options.cores;
    let pin = options.pin.map(|pin| quote!(.pin_cores(#pin)));
    let runtime = quote! {
        ::runtime::Runtime::builder()
            .cores(#cores)
            #pin
            .build()
            .expect("failed to build the runtime")
    };
    let test_attr = (entry == Entry::Test).then(|| quote!(#[::core::prelude::v1::test]));
    let pause = options
        .start_paused
        .then(|| quote!(::runtime::time::pause();));

    let run = if !options.each_core {
        let body = match &pause {
            None => quote_spanned!(body_end=> async move #block),
            Some(pause) => quote_spanned! {body_end=>
                async move {
                    #pause
                    let body = async move #block;
                    body.await
                }
            },
        };
        quote_spanned! {body_end=>
            let body = #body;
            #[allow(clippy::expect_used)]
            let runtime = #runtime;
            runtime.block_on(body)
        }
    } else {
        // The only bound that user code can break is `Output: Send + 'static`,
        // so point errors about it, and about combining, at the return type.
        let run_on_all_cores = quote_spanned!(output_span=> run_on_all_cores);
        let combine = quote_spanned! {output_span=>
            <#output_ty as ::runtime::__private::MainOutput>::combine(outputs)
        };
        quote_spanned! {body_end=>
            #[allow(clippy::expect_used)]
            let runtime = #runtime;
            let outputs = runtime.#run_on_all_cores(|| async move {
                #pause
                let body = async move #block;
                let output: #output_ty = body.await;
                output
            });
            #combine
        }
    };

    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            #run
        }
    }
}

/// Emits `error` together with a sync stand-in for the function, so that the
/// error is the only one reported (no "`main` function not found" on top).
fn with_error(entry: Entry, error: syn::Error, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        ..
    } = function;
    sig.asyncness = None;
    if entry == Entry::Main {
        sig.inputs.clear();
        sig.generics = syn::Generics::default();
    }
    let error = error.to_compile_error();
    quote! {
        #error
        #(#attrs)*
        #[allow(dead_code, unused_variables)]
        #vis #sig {
            ::core::unimplemented!()
        }
    }
}
