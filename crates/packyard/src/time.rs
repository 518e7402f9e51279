//! Timestamps as Composer writes them (`2024-01-31T12:00:00+00:00`), without a date crate,
//! and the intervals settings are written in (`900`, `90s`, `15m`, `1h`, `90d`).

use std::time::Duration;

/// `3600`, `90s`, `15m`, `1h`, `90d`: seconds, or a count of the unit given; `None`
/// when the text is not one (or overflows).
pub fn parse_interval(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let count: u64 = digits.parse().ok()?;
    let seconds_per_unit = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(count.checked_mul(seconds_per_unit)?))
}

/// [`parse_interval`] of a YAML value: a number of seconds, or such a text.
pub fn interval_in_yaml(value: &serde_yaml_ng::Value) -> Option<Duration> {
    match value {
        serde_yaml_ng::Value::Number(n) => n.as_u64().map(Duration::from_secs),
        serde_yaml_ng::Value::String(text) => parse_interval(text),
        _ => None,
    }
}

/// Formats Unix seconds as RFC 3339 in UTC.
pub fn rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let seconds_of_day = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        seconds_of_day / 3600,
        seconds_of_day % 3600 / 60,
        seconds_of_day % 60
    )
}

/// Unix milliseconds as people read them on a page: `2026-11-29 15:42:22 UTC`.
pub fn display(unix_millis: i64) -> String {
    rfc3339(unix_millis.div_euclid(1000))
        .replace('T', " ")
        .replace("+00:00", " UTC")
}

/// A moment given on the command line, in Unix milliseconds: `2026-12-31` (a whole
/// day, UTC: the moment it ends), `2026-12-31T12:00:00Z`, or a span from `now` such as
/// `30d`, `12h`, `90m`. `None` when it is none of these.
pub fn parse_moment(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    if let Some(span) = parse_span(text) {
        return Some(now.saturating_add(span));
    }
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z').unwrap_or(time))),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    // Four-digit years only: larger ones overflow the arithmetic and mean nothing here.
    if !(1..=9999).contains(&year) {
        return None;
    }
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let midnight = days_from_civil(year, month, day) * 86_400_000;
    let Some(time) = time else {
        return Some(midnight + 86_400_000);
    };
    let mut fields = time.splitn(3, ':');
    let hour: i64 = fields.next()?.parse().ok()?;
    let minute: i64 = fields.next()?.parse().ok()?;
    let second: i64 = fields.next().map_or(Some(0), |s| s.parse().ok())?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(midnight + ((hour * 60 + minute) * 60 + second) * 1000)
}

/// `30d`, `12h`, `90m`, `45s` in milliseconds.
fn parse_span(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let count: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        'd' => 86_400,
        'h' => 3600,
        'm' => 60,
        's' => 1,
        _ => return None,
    };
    count.checked_mul(seconds * 1000)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{parse_moment, rfc3339};

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00+00:00");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20+00:00");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59+00:00");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59+00:00");
    }

    #[test]
    fn moments_are_dates_times_or_spans() {
        // A date counts whole: it ends at the next midnight.
        assert_eq!(parse_moment("2023-11-14", 0), Some(1_700_006_400_000));
        assert_eq!(
            parse_moment("2023-11-14T22:13:20Z", 0),
            Some(1_700_000_000_000)
        );
        assert_eq!(parse_moment("2000-02-29", 0), Some(951_868_800_000));
        assert_eq!(parse_moment("30d", 1000), Some(1000 + 30 * 86_400_000));
        assert_eq!(parse_moment("12h", 0), Some(12 * 3_600_000));
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "tomorrow",
            "30x",
            "",
            "2023-1-1T25:00:00Z",
        ] {
            assert_eq!(parse_moment(bad, 0), None, "{bad}");
        }
        for days in [-1000i64, 0, 1, 19_675, 60_000] {
            let text = rfc3339(days * 86_400)[..10].to_owned();
            assert_eq!(
                parse_moment(&text, 0),
                Some((days + 1) * 86_400_000),
                "{text}"
            );
        }
    }
}
