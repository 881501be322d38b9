//! Variables: `${name}` in a step's `with` strings and `check` values,
//! captured from earlier steps' outputs (`capture = { name = "output" }`).

use std::collections::BTreeMap;

/// The `${…}` references in `s`, in order. Errors on an unterminated or
/// empty reference.
pub fn references(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated variable reference in {s:?}"))?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "bad variable name {name:?} in {s:?} (letters, digits, _)"
            ));
        }
        out.push(name.to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// Every reference in a TOML value tree.
pub fn references_in(v: &toml::Value) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    match v {
        toml::Value::String(s) => out.extend(references(s)?),
        toml::Value::Array(a) => {
            for x in a {
                out.extend(references_in(x)?);
            }
        }
        toml::Value::Table(t) => {
            for x in t.values() {
                out.extend(references_in(x)?);
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Replaces every `${name}` in `s` with its value.
pub fn substitute(s: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated variable reference in {s:?}"))?;
        let name = &after[..end];
        let v = vars
            .get(name)
            .ok_or_else(|| format!("variable ${{{name}}} has no value"))?;
        out.push_str(v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// [`substitute`] through a TOML value tree.
pub fn substitute_in(
    v: &toml::Value,
    vars: &BTreeMap<String, String>,
) -> Result<toml::Value, String> {
    Ok(match v {
        toml::Value::String(s) => toml::Value::String(substitute(s, vars)?),
        toml::Value::Array(a) => toml::Value::Array(
            a.iter()
                .map(|x| substitute_in(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => {
            let mut n = toml::Table::new();
            for (k, x) in t {
                n.insert(k.clone(), substitute_in(x, vars)?);
            }
            toml::Value::Table(n)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_and_substitution() {
        assert_eq!(references("a ${x} b ${y_2}").unwrap(), vec!["x", "y_2"]);
        assert!(references("${").is_err());
        assert!(references("${a-b}").is_err());
        let mut v = BTreeMap::new();
        v.insert("x".to_string(), "1".to_string());
        assert_eq!(substitute("k${x}k", &v).unwrap(), "k1k");
        assert!(substitute("${y}", &v).is_err());
    }
}
