//! The catalogue: every check, grouped by spec chapter, in the order they
//! run (the destructive token-policy checks last, re-initialisation at the
//! very end).

pub mod attributes;
pub mod errors;
pub mod general;
pub mod keys;
pub mod mechanisms;
pub mod operations;
pub mod secret_keys;
pub mod session;
pub mod size_query;
pub mod slot_token;
pub mod token_policy;

use super::check::Check;

/// Every check, in run order.
pub fn catalogue() -> Vec<Check> {
    let mut all = Vec::new();
    all.extend(general::checks());
    all.extend(slot_token::checks());
    all.extend(session::checks());
    all.extend(size_query::checks());
    all.extend(errors::checks());
    all.extend(attributes::checks());
    all.extend(operations::checks());
    all.extend(mechanisms::checks());
    all.extend(secret_keys::checks());
    all.extend(token_policy::checks());
    all
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_unique_and_prefixed_by_their_chapter() {
        let all = catalogue();
        let mut seen = HashSet::new();
        for c in &all {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(
                c.id.starts_with(&format!("{}.", c.chapter.name())),
                "{} not in {}",
                c.id,
                c.chapter.name()
            );
            assert!(!c.spec.is_empty() && !c.title.is_empty(), "{}", c.id);
        }
        assert!(all.len() >= 60, "{} checks", all.len());
    }
}
