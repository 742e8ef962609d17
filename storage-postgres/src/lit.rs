//! Statement parameters that can be sent either bound (`$n`) or written into
//! the statement as SQL literals (crate-private).
//!
//! A write transaction keeps its writes and sends them with its `COMMIT` in
//! one simple-query message (one round trip for all of them): that protocol
//! takes no bound parameters, so the values are written as literals, escaped
//! by `postgres-protocol` (the `postgres` crate's own escaping, libpq's
//! rules, correct whatever `standard_conforming_strings` says).

use postgres::types::ToSql;
use std::fmt::Write as _;

/// One parameter value.
#[derive(Debug, Clone)]
pub(crate) enum Lit {
    I32(Option<i32>),
    I64(Option<i64>),
    Bool(bool),
    Text(Option<String>),
    Bytes(Vec<u8>),
    I32s(Vec<i32>),
    I64s(Vec<i64>),
}

impl Lit {
    /// The value as a bound parameter.
    pub(crate) fn bound(&self) -> &(dyn ToSql + Sync) {
        match self {
            Lit::I32(v) => v,
            Lit::I64(v) => v,
            Lit::Bool(v) => v,
            Lit::Text(v) => v,
            Lit::Bytes(v) => v,
            Lit::I32s(v) => v,
            Lit::I64s(v) => v,
        }
    }

    /// Appends the value as an SQL literal; `false` when it cannot be
    /// written as one (a text with a NUL character, which a simple query
    /// cannot carry: such a write is sent bound instead, where the server
    /// refuses it as it always has).
    fn write(&self, out: &mut String) -> bool {
        fn int(out: &mut String, v: i64) {
            // Negative numbers in parentheses: `- -1` would start a comment.
            if v < 0 {
                let _ = write!(out, "({v})");
            } else {
                let _ = write!(out, "{v}");
            }
        }
        match self {
            Lit::I32(None) | Lit::I64(None) | Lit::Text(None) => out.push_str("NULL"),
            Lit::I32(Some(v)) => int(out, i64::from(*v)),
            Lit::I64(Some(v)) => int(out, *v),
            Lit::Bool(v) => out.push_str(if *v { "TRUE" } else { "FALSE" }),
            Lit::Text(Some(s)) => {
                if s.contains('\0') {
                    return false;
                }
                out.push_str(&postgres_protocol::escape::escape_literal(s));
            }
            Lit::Bytes(b) => {
                out.push_str("decode('");
                for byte in b {
                    let _ = write!(out, "{byte:02x}");
                }
                out.push_str("', 'hex')");
            }
            Lit::I32s(v) => array(out, v.iter().map(|x| i64::from(*x)), "int4"),
            Lit::I64s(v) => array(out, v.iter().copied(), "int8"),
        }
        true
    }
}

fn array(out: &mut String, values: impl Iterator<Item = i64>, ty: &str) {
    out.push_str("(ARRAY[");
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{v}");
    }
    let _ = write!(out, "]::{ty}[])");
}

/// Appends `EXECUTE name(params…);` with the values as literals; `false`
/// (and `out` unchanged) when a value cannot be written as one.
pub(crate) fn execute(out: &mut String, name: &str, params: &[Lit]) -> bool {
    let start = out.len();
    out.push_str("EXECUTE ");
    out.push_str(name);
    if !params.is_empty() {
        out.push('(');
        for (i, p) in params.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if !p.write(out) {
                out.truncate(start);
                return false;
            }
        }
        out.push(')');
    }
    out.push_str(";\n");
    true
}

macro_rules! lit_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl From<$t> for Lit {
            fn from(x: $t) -> Lit {
                Lit::$v(x.into())
            }
        }
    )*};
}

lit_from!(
    i32 => I32,
    Option<i32> => I32,
    i64 => I64,
    Option<i64> => I64,
    bool => Bool,
    String => Text,
    Option<String> => Text,
    Vec<u8> => Bytes,
    Vec<i32> => I32s,
    Vec<i64> => I64s,
);

impl From<&str> for Lit {
    fn from(x: &str) -> Lit {
        Lit::Text(Some(x.to_owned()))
    }
}

impl From<&String> for Lit {
    fn from(x: &String) -> Lit {
        Lit::Text(Some(x.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_literals() {
        let mut out = String::new();
        assert!(execute(
            &mut out,
            "w",
            &[
                Lit::from(-3),
                Lit::from("it's"),
                Lit::from(None::<i64>),
                Lit::from(true),
                Lit::from(vec![0u8, 255]),
                Lit::from(vec![1i64, -2]),
                Lit::from(Vec::<i32>::new()),
                Lit::from(r"a\b"),
                Lit::from(7i64),
            ],
        ));
        assert_eq!(
            out,
            "EXECUTE w((-3), 'it''s', NULL, TRUE, decode('00ff', 'hex'), (ARRAY[1,-2]::int8[]), \
             (ARRAY[]::int4[]),  E'a\\\\b', 7);\n"
        );
    }

    #[test]
    fn what_cannot_be_a_literal_is_refused() {
        let mut out = String::from("kept;");
        assert!(!execute(&mut out, "w", &[Lit::from(1), Lit::from("a\0b")]));
        assert_eq!(out, "kept;");
    }
}
