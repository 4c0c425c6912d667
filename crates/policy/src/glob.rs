//! Wildcard patterns: `*` matches any run of characters (none included), `?` exactly one.

/// A compiled wildcard pattern. Common shapes (`*`, a literal, `prefix*`) skip the general matcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// `*`: matches everything.
    Any,
    /// No wildcard: equality.
    Exact(String),
    /// `prefix*` with no other wildcard.
    Prefix(String),
    /// Anything else.
    Glob(String),
}

impl Pattern {
    /// Compiles `pattern`; with `fold`, the pattern is kept in ASCII lowercase (for actions).
    pub(crate) fn new(pattern: &str, fold: bool) -> Self {
        let p = if fold {
            pattern.to_ascii_lowercase()
        } else {
            pattern.to_owned()
        };
        if p == "*" {
            return Self::Any;
        }
        let wild = |c: char| c == '*' || c == '?';
        match p.find(wild) {
            None => Self::Exact(p),
            Some(i) if i + 1 == p.len() && p.ends_with('*') => {
                let mut head = p;
                head.pop();
                Self::Prefix(head)
            }
            Some(_) => Self::Glob(p),
        }
    }

    /// Whether `text` matches; with `fold`, ASCII letters compare case-insensitively (the pattern
    /// must have been compiled with `fold` too).
    pub(crate) fn matches(&self, text: &str, fold: bool) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(p) => {
                if fold {
                    p.eq_ignore_ascii_case(text)
                } else {
                    p == text
                }
            }
            Self::Prefix(p) => text
                .as_bytes()
                .get(..p.len())
                .is_some_and(|head| eq_bytes(p.as_bytes(), head, fold)),
            Self::Glob(p) => wildcard_match(p, text, fold),
        }
    }
}

fn eq_bytes(a: &[u8], b: &[u8], fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn eq_char(p: char, t: char, fold: bool) -> bool {
    p == t || (fold && p.eq_ignore_ascii_case(&t))
}

/// Matches `text` against `pattern` (`*` and `?` wildcards) in linear space and, in practice,
/// near-linear time: the classic single-backtrack-point algorithm.
pub(crate) fn wildcard_match(pattern: &str, text: &str, fold: bool) -> bool {
    let next = |s: &str, i: usize| s.get(i..).and_then(|r| r.chars().next());
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position in the pattern just after the last `*`, and the text position it is tried at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        let pc = next(pattern, pi);
        let tc = next(text, ti);
        match (pc, tc) {
            (Some('*'), _) => {
                pi += 1;
                star = Some((pi, ti));
                continue;
            }
            (Some(p), Some(t)) if p == '?' || eq_char(p, t, fold) => {
                pi += p.len_utf8();
                ti += t.len_utf8();
                continue;
            }
            (None, None) => return true,
            _ => {}
        }
        // Mismatch: let the last `*` swallow one more character, or fail.
        let Some((sp, st)) = star else {
            return false;
        };
        let Some(t) = next(text, st) else {
            return false;
        };
        let nt = st + t.len_utf8();
        star = Some((sp, nt));
        pi = sp;
        ti = nt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("?", "", false),
            ("?", "a", true),
            ("?", "é", true),
            ("?", "ab", false),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ba", false),
            ("*a", "a", true),
            ("*a", "bca", true),
            ("*a", "ab", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("**", "", true),
            ("*?", "", false),
            ("*?*", "x", true),
            ("kms:*", "kms:Encrypt", true),
            ("kms:Encrypt", "kms:Encrypt", true),
            ("kms:Encrypt", "kms:EncryptX", false),
            ("kms:*crypt", "kms:Decrypt", true),
            ("kms:Re*", "kms:ReEncryptFrom", true),
        ];
        for &(p, t, want) in cases {
            assert_eq!(wildcard_match(p, t, false), want, "{p} vs {t}");
            assert_eq!(Pattern::new(p, false).matches(t, false), want, "{p} vs {t}");
        }
    }

    #[test]
    fn folding() {
        assert!(Pattern::new("KMS:encrypt", true).matches("kms:Encrypt", true));
        assert!(Pattern::new("kms:GENERATE*", true).matches("kms:GenerateDataKey", true));
        assert!(Pattern::new("kms:g?n*KEY", true).matches("kms:GenerateDataKey", true));
        assert!(!Pattern::new("kms:encrypt", false).matches("kms:Encrypt", false));
    }

    /// A slow reference matcher over chars, by recursion.
    fn reference(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
            (Some('?'), Some(_)) => reference(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => reference(&p[1..], &t[1..]),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn agrees_with_reference(p in "[ab*?]{0,8}", t in "[ab]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            let want = reference(&pc, &tc);
            prop_assert_eq!(wildcard_match(&p, &t, false), want);
            prop_assert_eq!(Pattern::new(&p, false).matches(&t, false), want);
        }
    }
}
