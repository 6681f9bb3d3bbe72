//! `#[derive(Session)]`: parse the container attributes into a model, check, generate.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::{Data, DeriveInput, GenericParam, LitInt, LitStr};

use crate::case::snake_case;
use crate::errors::Errors;
use crate::names::{HANDLER_OPTIONS, SESSION};

const KEY: &str = "key";
const REJECT: &str = "reject";
const REDIRECT: &str = "redirect";
const FLASH: &str = "flash";
const CONTAINER_KEYS: &str =
    "`key = \"..\"`, `reject = 4xx`, `redirect = \"/path\"` or `flash = \"..\"` (with `redirect`)";

/// What the derive knows about the type.
struct Model<'a> {
    input: &'a DeriveInput,
    key: LitStr,
    absent: Absent,
}

/// What an extractor does when the session does not hold the value.
enum Absent {
    /// `Default::default()` when the type implements `Default`, else 401 (decided by the
    /// generated code on the concrete type).
    Detect,
    Status(LitInt),
    /// `303 See Other` to the location, with a flash message when one is given.
    Redirect(LitStr, Option<LitStr>),
}

/// The container attributes as written, each with its token for error spans.
#[derive(Default)]
struct Attrs {
    key: Option<LitStr>,
    reject: Option<LitInt>,
    redirect: Option<LitStr>,
    flash: Option<LitStr>,
}

pub(crate) fn expand(input: DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    check_shape(&input, &mut errors);
    let attrs = parse_attrs(&input, &mut errors);
    let model = check_attrs(&input, attrs, &mut errors);
    errors.finish()?;
    Ok(generate(&model))
}

fn check_shape(input: &DeriveInput, errors: &mut Errors) {
    if let Data::Union(data) = &input.data {
        errors.at(
            data.union_token,
            "#[derive(Session)] does not support unions: use a struct or an enum",
        );
    }
    for param in &input.generics.params {
        match param {
            GenericParam::Lifetime(lt) => errors.at(
                lt,
                "a typed session cannot borrow: its value is deserialized from stored bytes \
                 (`DeserializeOwned`); use owned fields such as `String` or `Vec<T>` instead of \
                 references",
            ),
            GenericParam::Type(_) | GenericParam::Const(_) => errors.at(
                param,
                "#[derive(Session)] does not support generic parameters: a typed session has one \
                 fixed key and a write-back `Drop` impl that needs a concrete type; derive it on a \
                 concrete wrapper instead, e.g. `struct Prefs(Settings<String>);`",
            ),
        }
    }
}

fn parse_attrs(input: &DeriveInput, errors: &mut Errors) -> Attrs {
    let mut attrs = Attrs::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident(SESSION)) {
        let parsed = attr.parse_nested_meta(|meta| {
            let path = &meta.path;
            if path.is_ident(KEY) {
                let lit: LitStr = meta.value()?.parse()?;
                set_once(&mut attrs.key, lit, KEY, errors);
            } else if path.is_ident(REJECT) {
                let lit: LitInt = meta.value()?.parse()?;
                set_once(&mut attrs.reject, lit, REJECT, errors);
            } else if path.is_ident(REDIRECT) {
                let lit: LitStr = meta.value()?.parse()?;
                set_once(&mut attrs.redirect, lit, REDIRECT, errors);
            } else if path.is_ident(FLASH) {
                let lit: LitStr = meta.value()?.parse()?;
                set_once(&mut attrs.flash, lit, FLASH, errors);
            } else {
                let word = path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                if HANDLER_OPTIONS.iter().any(|(name, _)| *name == word) {
                    errors.at(
                        path,
                        format_args!(
                            "`{word}` is a handler option: put `#[session({word})]` on the async fn \
                             handler, not on the type; a typed session accepts {CONTAINER_KEYS}"
                        ),
                    );
                } else {
                    errors.at(
                        path,
                        format_args!("unknown session attribute; expected {CONTAINER_KEYS}"),
                    );
                }
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(err) = parsed {
            errors.push(err);
        }
    }
    attrs
}

fn set_once<T: quote::ToTokens>(slot: &mut Option<T>, value: T, name: &str, errors: &mut Errors) {
    if slot.is_some() {
        errors.at(&value, format_args!("duplicate `{name}`"));
    } else {
        *slot = Some(value);
    }
}

/// Skips an unknown attribute's `= value` or `(..)`, so the next one is still read.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                return Ok(((), rest));
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

fn check_attrs<'a>(input: &'a DeriveInput, attrs: Attrs, errors: &mut Errors) -> Model<'a> {
    let key = match attrs.key {
        Some(key) => {
            if key.value().is_empty() {
                errors.at(&key, "the session key must not be empty");
            }
            key
        }
        None => {
            let name = input.ident.to_string();
            let name = name.strip_prefix("r#").unwrap_or(&name);
            LitStr::new(&snake_case(name), input.ident.span())
        }
    };
    if let Some(status) = &attrs.reject {
        match status.base10_parse::<u16>() {
            Ok(400..=599) => {}
            _ => errors.at(
                status,
                "`reject` must be an error status from 400 to 599, e.g. `reject = 403`; to send \
                 the visitor to a page, use `redirect = \"/login\"`",
            ),
        }
    }
    if let Some(location) = &attrs.redirect {
        let value = location.value();
        if value.is_empty() || !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            errors.at(
                location,
                "`redirect` must be a non-empty path or URL of visible ASCII characters \
                 (percent-encode the rest), e.g. `redirect = \"/login\"`",
            );
        }
    }
    if let Some(text) = &attrs.flash {
        if text.value().trim().is_empty() {
            errors.at(text, "the flash message must not be empty");
        }
        if attrs.redirect.is_none() {
            errors.at(
                text,
                "`flash` needs `redirect = \"/path\"`: the message is shown by the page the guard \
                 sends the visitor to, e.g. `#[session(redirect = \"/login\", flash = \"Please \
                 sign in.\")]`",
            );
        }
    }
    let absent = match (attrs.reject, attrs.redirect) {
        (Some(_), Some(redirect)) => {
            errors.at(
                &redirect,
                "`reject` and `redirect` cannot be combined: a guard answers either with a status \
                 or with a redirect",
            );
            Absent::Detect
        }
        (Some(status), None) => Absent::Status(status),
        (None, Some(location)) => Absent::Redirect(location, attrs.flash),
        (None, None) => Absent::Detect,
    };
    Model { input, key, absent }
}

fn generate(model: &Model) -> TokenStream {
    let ident = &model.input.ident;
    let where_clause = &model.input.generics.where_clause;
    let key = &model.key;
    // Errors about missing `Serialize`/`Deserialize` point at the type's name.
    let span = ident.span();
    let absent = match &model.absent {
        Absent::Detect => quote!((&__ats::Probe::<Self>::new()).absent()),
        Absent::Status(status) => quote!(__ats::Absent::status(#status)),
        Absent::Redirect(location, None) => quote!(__ats::Absent::redirect(#location)),
        Absent::Redirect(location, Some(text)) => {
            quote!(__ats::Absent::redirect_with_flash(#location, #text))
        }
    };
    let typed_impl = quote_spanned! {span=>
        #[automatically_derived]
        impl ::actix_typed_session::TypedSession for #ident #where_clause {
            const KEY: &'static str = #key;
        }
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            use ::actix_typed_session::__private as __ats;
            #[allow(unused_imports)]
            use __ats::{ViaDefault as _, ViaGuard as _};

            #typed_impl

            #[automatically_derived]
            impl __ats::actix_web::FromRequest for #ident #where_clause {
                type Error = __ats::actix_web::Error;
                type Future = __ats::ExtractFuture<Self>;

                #[inline]
                fn from_request(
                    __req: &__ats::actix_web::HttpRequest,
                    _: &mut __ats::actix_web::dev::Payload,
                ) -> Self::Future {
                    __ats::extract::<Self>(__req, #absent)
                }
            }

            /// Writes a changed value back into the request's session (see
            /// `actix_typed_session::typed`).
            #[automatically_derived]
            impl ::core::ops::Drop for #ident #where_clause {
                fn drop(&mut self) {
                    __ats::dropped::<Self>(self)
                }
            }
        };
    }
}
