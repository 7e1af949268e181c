//! The options an entry-point attribute accepts: `cores = N`, `pin = bool`,
//! `each_core` and, on tests, `start_paused = bool`.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, ExprLit, Lit};

/// What `#[runtime::main(...)]` and `#[runtime::test(...)]` were asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// How many cores the runtime has.
    pub(crate) cores: usize,
    /// `Some` only when the user wrote `pin = ...`, so the builder keeps its own
    /// default otherwise.
    pub(crate) pin: Option<bool>,
    /// Run the body once on every core rather than once on core 0.
    pub(crate) each_core: bool,
    /// Pause core 0's clock before the body starts (`runtime::time::pause`).
    pub(crate) start_paused: bool,
}

impl Options {
    /// Parses the tokens inside the attribute's parentheses.
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Options> {
        let mut cores = None;
        let mut pin = None;
        let mut each_core = None;
        let mut start_paused = None;
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("cores") {
                reject_duplicate(&meta, cores.is_some())?;
                cores = Some(parse_cores(&meta)?);
                Ok(())
            } else if meta.path.is_ident("pin") {
                reject_duplicate(&meta, pin.is_some())?;
                pin = Some(parse_bool(&meta, "pin")?);
                Ok(())
            } else if meta.path.is_ident("each_core") {
                reject_duplicate(&meta, each_core.is_some())?;
                if meta.input.peek(syn::Token![=]) {
                    return Err(meta.error("`each_core` takes no value: write `each_core`"));
                }
                each_core = Some(true);
                Ok(())
            } else if meta.path.is_ident("start_paused") {
                reject_duplicate(&meta, start_paused.is_some())?;
                start_paused = Some(parse_bool(&meta, "start_paused")?);
                Ok(())
            } else {
                let name = quote::ToTokens::to_token_stream(&meta.path).to_string();
                let name = name.replace(' ', "");
                Err(meta.error(format_args!(
                    "unknown option `{name}`; the valid options are `cores = N`, `pin = true|false`, `each_core` and (on tests) `start_paused = true|false`"
                )))
            }
        });
        parser.parse2(args)?;
        Ok(Options {
            cores: cores.unwrap_or(1),
            pin,
            each_core: each_core.unwrap_or(false),
            start_paused: start_paused.unwrap_or(false),
        })
    }
}

fn reject_duplicate(meta: &ParseNestedMeta<'_>, seen: bool) -> syn::Result<()> {
    if seen {
        let name = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(meta.error(format_args!("`{name}` is set more than once")));
    }
    Ok(())
}

fn parse_cores(meta: &ParseNestedMeta<'_>) -> syn::Result<usize> {
    let value: Expr = meta.value()?.parse()?;
    let int = match &value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int,
        _ => {
            return Err(syn::Error::new_spanned(
                &value,
                "`cores` must be an integer literal, e.g. `cores = 4`",
            ))
        }
    };
    let cores: usize = int.base10_parse()?;
    if cores == 0 {
        return Err(syn::Error::new_spanned(int, "`cores` must be at least 1"));
    }
    Ok(cores)
}

fn parse_bool(meta: &ParseNestedMeta<'_>, name: &str) -> syn::Result<bool> {
    let value: Expr = meta.value()?.parse()?;
    match &value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(pin),
            ..
        }) => Ok(pin.value),
        _ => Err(syn::Error::new_spanned(
            &value,
            format_args!("`{name}` must be `true` or `false`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::Options;
    use quote::quote;

    fn error(args: proc_macro2::TokenStream) -> String {
        Options::parse(args).unwrap_err().to_string()
    }

    #[test]
    fn defaults_to_one_core_and_builder_pinning() {
        let options = Options::parse(quote!()).unwrap();
        assert_eq!(
            options,
            Options {
                cores: 1,
                pin: None,
                each_core: false,
                start_paused: false,
            }
        );
    }

    #[test]
    fn parses_both_options_in_any_order() {
        let options = Options::parse(quote!(pin = true, cores = 4)).unwrap();
        assert_eq!(
            options,
            Options {
                cores: 4,
                pin: Some(true),
                each_core: false,
                start_paused: false,
            }
        );
        let options = Options::parse(quote!(cores = 2, pin = false,)).unwrap();
        assert_eq!(
            options,
            Options {
                cores: 2,
                pin: Some(false),
                each_core: false,
                start_paused: false,
            }
        );
        let options = Options::parse(quote!(cores = 4, each_core, start_paused = true)).unwrap();
        assert_eq!(
            options,
            Options {
                cores: 4,
                pin: None,
                each_core: true,
                start_paused: true,
            }
        );
    }

    #[test]
    fn rejects_bad_values() {
        assert_eq!(error(quote!(cores = 0)), "`cores` must be at least 1");
        assert_eq!(
            error(quote!(cores = "x")),
            "`cores` must be an integer literal, e.g. `cores = 4`"
        );
        assert_eq!(
            error(quote!(cores = N)),
            "`cores` must be an integer literal, e.g. `cores = 4`"
        );
        assert_eq!(error(quote!(pin = 3)), "`pin` must be `true` or `false`");
        assert_eq!(
            error(quote!(start_paused = 1)),
            "`start_paused` must be `true` or `false`"
        );
        assert_eq!(
            error(quote!(each_core = true)),
            "`each_core` takes no value: write `each_core`"
        );
    }

    #[test]
    fn rejects_unknown_and_repeated_options() {
        assert_eq!(
            error(quote!(threads = 2)),
            "unknown option `threads`; the valid options are `cores = N`, `pin = true|false`, `each_core` and (on tests) `start_paused = true|false`"
        );
        assert_eq!(
            error(quote!(cores = 2, cores = 3)),
            "`cores` is set more than once"
        );
        assert_eq!(
            error(quote!(pin = true, pin = true)),
            "`pin` is set more than once"
        );
    }
}
