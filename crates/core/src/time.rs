//! The one calendar of coffer, without a date library: the proleptic Gregorian calendar
//! (Howard Hinnant's `days_from_civil` / `civil_from_days`), Unix time from a [`SystemTime`],
//! and the two timestamp forms coffer writes: RFC 3339 / ISO 8601 extended
//! (`2024-05-01T12:34:56Z`, CloudTrail's `eventTime`, IAM's `aws:CurrentTime`) and ISO 8601
//! basic (`20150830T123600Z`, SigV4's `X-Amz-Date`).
//!
//! ```
//! use coffer_core::time;
//! assert_eq!(time::days_from_civil(2000, 3, 1), 11_017);
//! assert_eq!(time::civil_from_days(11_017), (2000, 3, 1));
//! assert_eq!(time::format_rfc3339(1_440_938_160), "2015-08-30T12:36:00Z");
//! assert_eq!(time::parse_basic("20150830T123600Z"), Some(1_440_938_160));
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a day.
pub const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of the proleptic Gregorian date `y`-`m`-`d` (`m` in 1..=12; `d` is
/// not checked against the month, see [`days_in_month`]). Negative before 1970.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1..=12, day 1..=31) of a day count since 1970-01-01: the inverse of
/// [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // In range by construction: 1..=31 and 1..=12.
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether `y` is a Gregorian leap year.
pub fn is_leap_year(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// The number of days of month `m` of year `y`; 0 if `m` is not in 1..=12.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whole seconds since the Unix epoch (negative before it, rounded toward the epoch),
/// saturating.
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Milliseconds since the Unix epoch (negative before it), saturating.
pub fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
    }
}

/// Seconds since the Unix epoch with millisecond precision, as the AWS JSON protocol encodes
/// timestamps (negative before the epoch). Exact to the millisecond for 285,000 years.
pub fn epoch_seconds(t: SystemTime) -> f64 {
    unix_millis(t) as f64 / 1000.0
}

/// Splits Unix seconds into (year, month, day, hour, minute, second).
fn fields(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (y, m, d) = civil_from_days(secs.div_euclid(SECONDS_PER_DAY));
    let rem = secs.rem_euclid(SECONDS_PER_DAY);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Formats Unix seconds as RFC 3339 in UTC, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = fields(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// Formats `t` as [`format_rfc3339`] does, as CloudTrail writes `eventTime`; times before the
/// epoch are written as the epoch.
pub fn rfc3339(t: SystemTime) -> String {
    format_rfc3339(unix_seconds(t).max(0))
}

/// Formats Unix seconds as ISO 8601 basic in UTC, `YYYYMMDDTHHMMSSZ` (SigV4's `X-Amz-Date`).
pub fn format_basic(secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = fields(secs);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &c| {
        acc.checked_mul(10)?.checked_add(u32::from(c - b'0'))
    })
}

/// Parses `YYYYMMDDTHHMMSSZ` into Unix seconds; `None` unless exactly that form and a real
/// date and time.
pub fn parse_basic(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let y = i64::from(digits(b.get(0..4)?)?);
    let mo = digits(b.get(4..6)?)?;
    let d = digits(b.get(6..8)?)?;
    let h = i64::from(digits(b.get(9..11)?)?);
    let mi = i64::from(digits(b.get(11..13)?)?);
    let se = i64::from(digits(b.get(13..15)?)?);
    if d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * SECONDS_PER_DAY + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert!(is_leap_year(2000) && is_leap_year(2024) && !is_leap_year(1900));
        assert_eq!(days_in_month(2019, 2), 28);
        assert_eq!(days_in_month(2020, 2), 29);
        assert_eq!(days_in_month(2020, 13), 0);
    }

    // The audit log's `eventTime` (was crates/audit/src/time.rs).
    #[test]
    fn known_rfc3339_dates() {
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_594_757_862), "2020-07-14T20:17:42Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(format_rfc3339(-86_400), "1969-12-31T00:00:00Z");
    }

    // SigV4's `X-Amz-Date` (was crates/server/src/amz_date.rs).
    #[test]
    fn known_basic_dates() {
        assert_eq!(parse_basic("19700101T000000Z"), Some(0));
        assert_eq!(parse_basic("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(format_basic(1_440_938_160), "20150830T123600Z");
        assert_eq!(parse_basic("20000229T000000Z"), Some(951_782_400));
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "20150230T123600Z",
            "20150830T243600Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "19000229T000000Z",
            "20151330T123600Z",
            "20150800T123600Z",
        ] {
            assert_eq!(parse_basic(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_time_either_side_of_the_epoch() {
        let after = UNIX_EPOCH + Duration::from_millis(1_500);
        let before = UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!((unix_seconds(after), unix_millis(after)), (1, 1_500));
        assert_eq!((unix_seconds(before), unix_millis(before)), (-1, -1_500));
        assert_eq!(epoch_seconds(after), 1.5);
        assert_eq!(epoch_seconds(before), -1.5);
        assert_eq!(
            epoch_seconds(UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789)),
            1_700_000_000.123
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Every day count, far either side of the epoch, is one date and back.
        #[test]
        fn civil_round_trip(z in -1_000_000_000i64..1_000_000_000) {
            let (y, m, d) = civil_from_days(z);
            prop_assert!((1..=12).contains(&m));
            prop_assert!(d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), z);
        }

        /// Every real date is one day count and back, and the next day follows it.
        #[test]
        fn days_round_trip(y in -2_000_000i64..2_000_000, m in 1u32..=12, d in 1u32..=31) {
            prop_assume!(d <= days_in_month(y, m));
            let z = days_from_civil(y, m, d);
            prop_assert_eq!(civil_from_days(z), (y, m, d));
            let (ny, nm, nd) = civil_from_days(z + 1);
            prop_assert!(
                (ny, nm, nd) == (y, m, d + 1)
                    || (ny, nm, nd) == (y, m + 1, 1)
                    || (ny, nm, nd) == (y + 1, 1, 1)
            );
        }

        #[test]
        fn basic_round_trip(secs in 0i64..253_402_300_799) {
            prop_assert_eq!(parse_basic(&format_basic(secs)), Some(secs));
        }

        #[test]
        fn formats_agree(secs in -62_167_219_200i64..253_402_300_799) {
            let basic = format_basic(secs);
            let ext = format_rfc3339(secs);
            prop_assert_eq!(ext.replace(['-', ':'], ""), basic);
        }
    }
}
