//! RFC 3339 timestamps to and from seconds since the Unix epoch.
//!
//! Images carry one creation time; it also becomes every file's mtime. We
//! need only UTC output and a strict parser, so a calendar crate would be
//! more than the job asks for.

/// Parses an RFC 3339 timestamp (`2024-05-01T12:00:00Z`, fractions and
/// `+02:00` offsets allowed) into whole seconds since the epoch, UTC.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not an RFC 3339 time like \"2024-05-01T12:00:00Z\"");
    let b = s.as_bytes();
    // Fields are sliced by byte offset, which needs one byte per character.
    if !s.is_ascii()
        || b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) { part.parse::<i64>().map_err(|_| bad()) } else { Err(bad()) }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || !matches!(ob[0], b'+' | b'-') || ob[3] != b':' {
                return Err(bad());
            }
            let (oh, om) = (num_in(rest, 1..3).ok_or_else(bad)?, num_in(rest, 4..6).ok_or_else(bad)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let secs = oh * 3600 + om * 60;
            if ob[0] == b'+' { secs } else { -secs }
        }
    };
    Ok(days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec.min(59) - offset)
}

fn num_in(s: &str, r: std::ops::Range<usize>) -> Option<i64> {
    let part = s.get(r)?;
    part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        // `date -u -d 2024-02-29T12:34:56Z +%s`
        assert_eq!(parse_rfc3339("2024-02-29T12:34:56Z"), Ok(1709210096));
        assert_eq!(parse_rfc3339("2024-02-29T14:34:56.123+02:00"), Ok(1709210096));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Ok(-1));
    }

    #[test]
    fn round_trip() {
        for secs in [0, 1, 86399, 951782400, 1709210096, 4102444800, -86400] {
            assert_eq!(parse_rfc3339(&format_rfc3339(secs)), Ok(secs), "{secs}");
        }
        assert_eq!(format_rfc3339(1709210096), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00+2:00",
            "2024-01-01T00:00:00.Z",
            "yesterday",
            // Found by fuzzing: a multi-byte character where a digit belongs.
            "2024-01-01T00:00:0\u{4a5}",
            "2024-01-01T00:00:00\u{e9}",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s}");
        }
    }
}
