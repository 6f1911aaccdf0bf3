//! Field tables: what a dialect accepts, as data.

/// One patchable property of a dialect.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The canonical JSON property name (request bodies match it case-insensitively).
    pub name: &'static str,
    /// The DynamoDB attribute the value is stored under. Only these names, never a name from a
    /// request, become attribute names.
    pub attribute: &'static str,
    pub kind: Kind,
    pub clear: Clear,
}

impl Field {
    /// An optional single-line string of at most `max` characters, stored under its own
    /// name; `null` or `""` removes it.
    pub const fn text(name: &'static str, max: usize) -> Field {
        Field {
            name,
            attribute: name,
            kind: Kind::Text {
                min: 0,
                max,
                multiline: false,
            },
            clear: Clear::NullOrEmpty,
        }
    }

    /// A single-line string of 1 to `max` characters, stored under its own name, that can
    /// never be removed.
    pub const fn required_text(name: &'static str, max: usize) -> Field {
        Field {
            name,
            attribute: name,
            kind: Kind::Text {
                min: 1,
                max,
                multiline: false,
            },
            clear: Clear::Never,
        }
    }
}

/// The value a field takes, with its limits.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string of `min..=max` Unicode characters. Control characters are refused; when
    /// `multiline`, `\n`, `\r` and `\t` are allowed.
    Text {
        min: usize,
        max: usize,
        multiline: bool,
    },
    /// An email address (WHATWG "valid email address") of at most `max` characters.
    Email { max: usize },
    /// A boolean, stored as BOOL.
    Boolean(BoolForms),
    /// A calendar date `YYYY-MM-DD` (a `T00:00:00` time part accepted) from 1900-01-01 up to
    /// today, stored as `YYYY-MM-DD`.
    Date,
    /// An integer in `min..=max`, stored as N; with `digit_string`, also a string of digits.
    Integer {
        min: i64,
        max: i64,
        digit_string: bool,
    },
    /// Contacts v1 `customFields`: an array of `{definitionId, value}` objects.
    CustomFields,
}

/// How a boolean may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolForms {
    /// JSON `true` / `false` only.
    Json,
    /// JSON booleans, or the strings `true`, `false`, `t`, `f` in any case.
    JsonOrText,
}

/// Whether, and how, a caller may remove a field's stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clear {
    /// The field always holds a value: `null` is refused, and `""` is validated like any value.
    Never,
    /// `null`, and `""` for string-typed input, remove the stored attribute.
    NullOrEmpty,
}

/// A dialect's whole body vocabulary.
#[derive(Debug)]
pub struct FieldTable {
    pub fields: &'static [Field],
    /// Properties clients may see in a record but may never send (refused, not ignored).
    pub read_only: &'static [&'static str],
}

impl FieldTable {
    /// The field a property name denotes, matched ASCII-case-insensitively, with its position
    /// in the table (which fixes the order of clauses in the update).
    pub fn lookup(&self, property: &str) -> Option<(usize, &'static Field)> {
        self.fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.name.eq_ignore_ascii_case(property))
    }

    pub fn is_read_only(&self, property: &str) -> bool {
        self.read_only
            .iter()
            .any(|name| name.eq_ignore_ascii_case(property))
    }
}
