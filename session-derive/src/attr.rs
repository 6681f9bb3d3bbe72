//! `#[session(..)]` on a handler: parse the option words, check the combination, and make the
//! handler set them on its request's session when it starts running.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, Item, ItemFn, Meta, Token};

use crate::errors::Errors;
use crate::names::{Opt, HANDLER_OPTIONS, SESSION};

const VALID: &str = "`change_id`, `expire`, `no_store`, `late_store`, `csrf` or `fresh = \"10m\"`";

impl Opt {
    fn name(self) -> &'static str {
        HANDLER_OPTIONS
            .iter()
            .find(|(_, opt)| *opt == self)
            .map_or("", |(name, _)| name)
    }

    /// The runtime flag constant in `::actix_typed_session::__private`; `csrf` has none.
    fn flag(self) -> Option<Ident> {
        let name = match self {
            Opt::ChangeId => "CHANGE_ID",
            Opt::Expire => "EXPIRE",
            Opt::NoStore => "NO_STORE",
            Opt::LateStore => "LATE_STORE",
            Opt::Csrf => return None,
        };
        Some(Ident::new(name, Span::call_site()))
    }
}

/// The options as written, each with its word for error spans; and `fresh = ".."` (step-up),
/// in seconds.
struct Options(Vec<(Opt, Ident)>, Option<u64>);

impl Options {
    fn get(&self, opt: Opt) -> Option<&Ident> {
        self.0.iter().find(|(o, _)| *o == opt).map(|(_, word)| word)
    }
}

/// A duration as `fresh = ".."` takes it: one or more `<number><unit>` (`s`, `m`, `h`, `d`),
/// e.g. `"90s"`, `"10m"`, `"1h30m"`; in seconds, more than zero.
fn parse_duration(text: &str) -> Result<u64, String> {
    let example = "e.g. \"10m\", \"90s\", \"1h30m\" (units s, m, h, d)";
    if text.trim().is_empty() {
        return Err(format!("`fresh` needs a duration, {example}"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("`{text}` is not a duration: {example}")),
        };
        if digits.is_empty() {
            return Err(format!(
                "`{text}` is not a duration: a number goes before each unit, {example}"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{digits}` is too large a number: {example}"))?;
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!("`{digits}` needs a unit: {example}"));
    }
    if total == 0 {
        return Err(
            "a `fresh` duration of zero lets no request through: give one of a few minutes, e.g. \
             \"10m\""
                .to_owned(),
        );
    }
    Ok(total)
}

/// `fresh = "10m"`: its seconds, or an error at the value.
fn parse_fresh(meta: &syn::MetaNameValue, errors: &mut Errors) -> Option<u64> {
    let syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Str(text),
        ..
    }) = &meta.value
    else {
        errors.at(
            &meta.value,
            "`fresh` takes a duration in quotes, e.g. `fresh = \"10m\"`",
        );
        return None;
    };
    match parse_duration(&text.value()) {
        Ok(secs) => Some(secs),
        Err(message) => {
            errors.at(text, message);
            None
        }
    }
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let handler = check_item(item, &mut errors)?;
    let options = parse_options(args, &mut errors);
    check_combination(&options, &mut errors);
    errors.finish()?;
    Ok(generate(&options, handler))
}

/// The item must be an `async fn`; anything else is an error without looking at the options.
fn check_item(item: TokenStream, errors: &mut Errors) -> syn::Result<ItemFn> {
    let item: Item = syn::parse2(item).map_err(|_| {
        syn::Error::new(
            Span::call_site(),
            format_args!("#[session(..)] goes on an async fn handler, with {VALID}"),
        )
    })?;
    let handler = match item {
        Item::Fn(handler) => handler,
        Item::Struct(syn::ItemStruct { attrs, .. })
        | Item::Enum(syn::ItemEnum { attrs, .. })
        | Item::Union(syn::ItemUnion { attrs, .. })
            if attrs.iter().any(derives_session) =>
        {
            return Err(syn::Error::new(
                Span::call_site(),
                "write `#[derive(Session)]` first and `#[session(..)]` below it: above the \
                 derive, `session` names the handler attribute, not the derive's helper",
            ));
        }
        other => {
            return Err(syn::Error::new_spanned(
                item_head(&other),
                format_args!(
                    "#[session(..)] goes on an async fn handler, with {VALID}; to configure a \
                     typed session type, write `#[session(key = ..)]` below `#[derive(Session)]`"
                ),
            ));
        }
    };
    if handler.sig.asyncness.is_none() {
        errors.at(
            handler.sig.fn_token,
            "#[session(..)] needs an `async fn`: write `async fn` (the options are set when the \
             handler starts running)",
        );
    }
    if let Some(other) = handler.attrs.iter().find(|a| is_session_attr(a)) {
        errors.at(
            other,
            "a handler takes one #[session(..)]: list all options in it, e.g. \
             `#[session(change_id, late_store)]`",
        );
    }
    Ok(handler)
}

/// `#[derive(.., Session, ..)]`.
fn derives_session(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("derive")
        && attr
            .parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
            .is_ok_and(|paths| {
                paths
                    .iter()
                    .any(|p| p.segments.last().is_some_and(|s| s.ident == "Session"))
            })
}

fn is_session_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == SESSION)
}

/// The tokens an error about a misplaced attribute points at: the item's keyword and name.
fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Struct(i) => head(&i.struct_token, &i.ident),
        Item::Enum(i) => head(&i.enum_token, &i.ident),
        Item::Union(i) => head(&i.union_token, &i.ident),
        Item::Trait(i) => head(&i.trait_token, &i.ident),
        Item::Mod(i) => head(&i.mod_token, &i.ident),
        Item::Const(i) => head(&i.const_token, &i.ident),
        Item::Static(i) => head(&i.static_token, &i.ident),
        Item::Type(i) => head(&i.type_token, &i.ident),
        Item::Impl(i) => head(&i.impl_token, &i.self_ty),
        other => other.to_token_stream(),
    }
}

fn head(keyword: &impl ToTokens, name: &impl ToTokens) -> TokenStream {
    quote!(#keyword #name)
}

fn parse_options(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options(Vec::new(), None);
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(err) => {
            errors.push(syn::Error::new(
                err.span(),
                format_args!("{err}: a handler option is one of {VALID}"),
            ));
            return options;
        }
    };
    if metas.is_empty() {
        errors.push(syn::Error::new(
            Span::call_site(),
            format_args!(
                "#[session] needs at least one option: {VALID}, e.g. `#[session(change_id)]`"
            ),
        ));
    }
    for meta in metas {
        if let Meta::NameValue(fresh) = &meta {
            if fresh.path.is_ident("fresh") {
                if options.1.is_some() {
                    errors.at(&fresh.path, "duplicate session option `fresh`");
                } else if let Some(secs) = parse_fresh(fresh, errors) {
                    options.1 = Some(secs);
                }
                continue;
            }
        }
        if meta.path().is_ident("fresh") {
            errors.at(
                &meta,
                "`fresh` takes a duration: `fresh = \"10m\"` (step-up: the handler runs only \
                 for a sign-in or a password check that recent)",
            );
            continue;
        }
        let Meta::Path(path) = &meta else {
            let hint = if meta.path().is_ident("key") {
                "; `key = ..` configures a typed session type, below `#[derive(Session)]`"
            } else {
                ""
            };
            errors.at(
                &meta,
                format_args!("a handler option is a single word: {VALID}{hint}"),
            );
            continue;
        };
        let Some(word) = path.get_ident() else {
            errors.at(
                path,
                format_args!("unknown session option; expected {VALID}"),
            );
            continue;
        };
        let Some((_, opt)) = HANDLER_OPTIONS.iter().find(|(name, _)| word == name) else {
            errors.at(
                word,
                format_args!("unknown session option `{word}`; expected {VALID}"),
            );
            continue;
        };
        if options.get(*opt).is_some() {
            errors.at(word, format_args!("duplicate session option `{word}`"));
            continue;
        }
        options.0.push((*opt, word.clone()));
    }
    options
}

/// Combinations where one option would silently do nothing (the commit rules, in the crate
/// docs under "When the session is written": `expire` beats all; `change_id` saves even with
/// `no_store`; `no_store` leaves nothing for `late_store` to delay).
fn check_combination(options: &Options, errors: &mut Errors) {
    if options.get(Opt::Expire).is_some() {
        // `csrf` guards the request (a logout form too) and works with `expire`.
        let others = options
            .0
            .iter()
            .filter(|(o, _)| !matches!(o, Opt::Expire | Opt::Csrf));
        for (opt, word) in others {
            errors.at(
                word,
                format_args!(
                    "`{}` has no effect with `expire`: `expire` ends the session and beats every \
                     other option; remove one of them",
                    opt.name()
                ),
            );
        }
        return;
    }
    if let (Some(_), Some(no_store)) = (options.get(Opt::ChangeId), options.get(Opt::NoStore)) {
        errors.at(
            no_store,
            "`no_store` has no effect with `change_id`: the data moves to the new id even with \
             `no_store`; remove one of them",
        );
    }
    if let (Some(_), Some(late_store)) = (options.get(Opt::NoStore), options.get(Opt::LateStore)) {
        errors.at(
            late_store,
            "`late_store` has no effect with `no_store`: nothing is stored, early or late; remove \
             one of them",
        );
    }
}

fn generate(options: &Options, mut handler: ItemFn) -> TokenStream {
    let flags: Vec<Ident> = options.0.iter().filter_map(|(opt, _)| opt.flag()).collect();
    if !flags.is_empty() {
        let set: syn::Stmt = syn::parse_quote! {
            ::actix_typed_session::__private::handler_options(
                0 #(| ::actix_typed_session::__private::#flags)*
            );
        };
        handler.block.stmts.insert(0, set);
    }
    if let Some(secs) = options.1 {
        let secs = proc_macro2::Literal::u64_unsuffixed(secs);
        // Before the handler's own extractors; after the CSRF check (inserted below), so that
        // a forged request is refused before it is sent to confirm.
        let check: syn::FnArg = syn::parse_quote! {
            _: ::actix_typed_session::__private::Fresh<#secs>
        };
        handler.sig.inputs.insert(0, check);
    }
    if options.get(Opt::Csrf).is_some() {
        // The first extractor, so that it reads a form body before the handler's `web::Form`
        // (it hands the body on) and answers 403 before the handler runs.
        let check: syn::FnArg = syn::parse_quote! {
            _: ::actix_typed_session::__private::CsrfCheck
        };
        handler.sig.inputs.insert(0, check);
    }
    handler.into_token_stream()
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_parse_to_seconds_and_bad_ones_say_why() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        for bad in [
            "",
            "10",
            "m",
            "ten minutes",
            "10 m",
            "0m",
            "0s0m",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("18446744073709551615d").is_err(), "overflow");
    }
}
