//! Dates as IAM writes them: ISO 8601 (`2026-12-31`, `2026-12-31T23:59:59Z`, with fractions or
//! an offset) or seconds since the epoch. Held as milliseconds since the epoch.

use coffer_core::time::{days_from_civil, days_in_month, format_rfc3339};

/// Milliseconds since the Unix epoch (negative before it).
pub(crate) use coffer_core::time::unix_millis as system_time_millis;

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (for string operators applied
/// to `aws:CurrentTime`).
pub(crate) fn format_millis(ms: i64) -> String {
    format_rfc3339(ms.div_euclid(1000))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let c = *self.b.get(self.i)?;
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
            self.i += 1;
        }
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }
}

/// Parses a date the way IAM accepts it; `None` if it is not one.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
        // Epoch seconds.
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let y = i64::from(c.digits(4)?);
    if !c.eat(b'-') {
        return None;
    }
    let m = c.digits(2)?;
    if !c.eat(b'-') {
        return None;
    }
    let d = c.digits(2)?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    if c.done() {
        return Some(ms);
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    let hh = c.digits(2)?;
    if !c.eat(b':') {
        return None;
    }
    let mm = c.digits(2)?;
    let mut ss = 0;
    let mut frac_ms = 0u32;
    if c.eat(b':') {
        ss = c.digits(2)?;
        if c.eat(b'.') || c.eat(b',') {
            let mut scale = 100;
            let mut any = false;
            while let Some(ch) = c.peek().filter(u8::is_ascii_digit) {
                frac_ms += u32::from(ch - b'0') * scale;
                scale /= 10;
                c.i += 1;
                any = true;
            }
            if !any {
                return None;
            }
        }
    }
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    ms += (i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss)) * 1000 + i64::from(frac_ms);
    match c.peek() {
        None => {}
        Some(b'Z' | b'z') => c.i += 1,
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2)?;
            c.eat(b':');
            let om = c.digits(2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (i64::from(oh) * 3600 + i64::from(om) * 60) * 1000;
            ms = if sign == b'+' { ms - off } else { ms + off };
        }
        Some(_) => return None,
    }
    c.done().then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-02T00:00:00Z"), Some(86_400_000));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(parse_date("2019-07-16T12:00:00Z"), Some(1_563_278_400_000));
        assert_eq!(parse_date("1563278400"), Some(1_563_278_400_000));
        assert_eq!(
            parse_date("2019-07-16T14:00:00+02:00"),
            Some(1_563_278_400_000)
        );
        assert_eq!(
            parse_date("2019-07-16T12:00:00.250Z"),
            Some(1_563_278_400_250)
        );
        assert_eq!(parse_date("2019-07-16T12:00Z"), Some(1_563_278_400_000));
        for bad in [
            "",
            "2019-07",
            "2019-13-01",
            "2019-02-29",
            "2019-07-16T25:00:00Z",
            "x",
            "2019-07-16Tx",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert!(parse_date("2020-02-29").is_some());
    }

    #[test]
    fn format_round_trips() {
        for ms in [0, 951_868_800_000, 1_563_278_400_000, -86_400_000] {
            assert_eq!(parse_date(&format_millis(ms)), Some(ms));
        }
        assert_eq!(format_millis(1_563_278_400_000), "2019-07-16T12:00:00Z");
    }
}
