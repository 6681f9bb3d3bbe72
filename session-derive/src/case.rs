//! The default key: the type name in snake_case.

/// `ShoppingCart` → `shopping_cart`, `HTTPState` → `http_state`, `UserV2` → `user_v2`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                // The last capital of an acronym starts a word: `HTTPState` → `http_state`.
                Some(p) if p.is_uppercase() => next.is_some_and(|n| n.is_lowercase()),
                Some(_) => false,
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn type_names() {
        for (name, key) in [
            ("Cart", "cart"),
            ("ShoppingCart", "shopping_cart"),
            ("HTTPState", "http_state"),
            ("UserV2", "user_v2"),
            ("User2Fa", "user2_fa"),
            ("already_snake", "already_snake"),
            ("Old_Cart", "old_cart"),
            ("ID", "id"),
        ] {
            assert_eq!(snake_case(name), key, "{name}");
        }
    }
}
