//! Install statistics: what Composer's notify-batch counted (one row per package,
//! version and day in `download_days`, totals in `download_counts`), summed over the
//! versions a caller sees, so that statistics never reveal a version it may not see.
//! Served as Packeton's `stats.json` and `stats/all.json`, on package pages and by
//! `packyard package downloads`.

use std::collections::HashSet;

use serde::Serialize;

use composer::package_name::PackageName;

use crate::access::View;
use std::sync::Arc;

use crate::db::Db;
use crate::db::{DAY_MS, VersionRecord, now_millis};
use crate::metadata::Metadata;

/// Install statistics of the packages a caller sees.
#[derive(Clone)]
pub struct Stats {
    db: Db,
    metadata: Arc<Metadata>,
}

impl Stats {
    pub fn new(db: Db, metadata: Arc<Metadata>) -> Self {
        Stats { db, metadata }
    }
}

/// Days counted as "monthly", as Packagist does.
pub const MONTH_DAYS: i64 = 30;

/// Installs of the versions of one package that a caller sees.
pub struct Installs {
    /// The visible versions.
    pub versions: Vec<VersionRecord>,
    /// Installs per visible version (normalized), most installed first.
    pub per_version: Vec<(String, i64)>,
    /// Installs per day (days since 1970), oldest first, summed over visible versions.
    pub days: Vec<(i64, i64)>,
    /// When the package was published here, as the caller may know it (Unix
    /// milliseconds): where statistics start.
    pub since: i64,
    /// The day of `since`.
    pub first_day: i64,
}

/// Totals as Packeton shows them: all time, the last 30 days, today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub total: i64,
    pub monthly: i64,
    pub daily: i64,
}

/// The unit of a series: one point per day, per 7 days or per calendar month, each a
/// daily average (rounded up) for the latter two, as Packeton draws them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Average {
    Daily,
    Weekly,
    Monthly,
}

impl Average {
    pub fn parse(text: &str) -> Option<Average> {
        match text {
            "daily" => Some(Average::Daily),
            "weekly" => Some(Average::Weekly),
            "monthly" => Some(Average::Monthly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Average::Daily => "daily",
            Average::Weekly => "weekly",
            Average::Monthly => "monthly",
        }
    }

    /// Packeton's choice for a range: daily up to 7 months, weekly up to 4 years.
    pub fn for_range(from_day: i64, to_day: i64) -> Average {
        let span = to_day - from_day;
        if span > 4 * 365 {
            Average::Monthly
        } else if span > 7 * 30 {
            Average::Weekly
        } else {
            Average::Daily
        }
    }
}

/// Points of a chart: `labels` (`2026-12-01`, or `2026-12` for months) and `values`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Series {
    pub labels: Vec<String>,
    pub values: Vec<i64>,
    pub average: &'static str,
}

/// The longest range a series may span, in days (a point per day for 30 years).
pub const MAX_SERIES_DAYS: i64 = 30 * 366;

/// Today, in days since 1970 (UTC).
pub fn today() -> i64 {
    now_millis().div_euclid(DAY_MS)
}

impl Stats {
    /// The installs of `package` that `view` may know of, with its days from `since_day`
    /// on (days since 1970); `None` when it sees no version of it (or it does not exist),
    /// to be answered like an unknown package.
    pub async fn installs(
        &self,
        package: &PackageName,
        view: &View,
        since_day: i64,
    ) -> Result<Option<Installs>, sqlx::Error> {
        let Some(versions) = self.metadata.visible_versions(package, view).await? else {
            return Ok(None);
        };
        let Some(row) = self.db.find_package(package).await? else {
            return Ok(None);
        };
        let visible: HashSet<&str> = versions
            .iter()
            .map(|v| v.version_normalized.as_str())
            .collect();
        let per_version = self
            .db
            .download_counts(package)
            .await?
            .into_iter()
            .filter(|(version, _)| visible.contains(version.as_str()))
            .collect();
        let mut by_day = std::collections::BTreeMap::new();
        for (version, day, count) in self.db.daily_downloads(package, since_day).await? {
            if visible.contains(version.as_str()) {
                *by_day.entry(day).or_insert(0) += count;
            }
        }
        // Where statistics start: when the package came here, or, for a caller who sees
        // only some versions, its first visible release if that is later (an earlier
        // start would tell of versions it does not see).
        let mut since = row.created_at;
        if !view.sees_all_versions_of(package.as_str())
            && let Some(first) = versions.iter().map(|v| v.released_at).min()
        {
            since = since.max(first);
        }
        drop(visible);
        Ok(Some(Installs {
            versions,
            per_version,
            days: by_day.into_iter().collect(),
            since,
            first_day: since.div_euclid(DAY_MS),
        }))
    }

    /// All-time installs of the versions of `package` that `view` sees (what search
    /// results show); `None` as for [`installs`].
    pub async fn total(
        &self,
        package: &PackageName,
        view: &View,
    ) -> Result<Option<i64>, sqlx::Error> {
        let Some(versions) = self.metadata.visible_versions(package, view).await? else {
            return Ok(None);
        };
        let visible: HashSet<&str> = versions
            .iter()
            .map(|v| v.version_normalized.as_str())
            .collect();
        Ok(Some(
            self.db
                .download_counts(package)
                .await?
                .iter()
                .filter(|(version, _)| visible.contains(version.as_str()))
                .map(|(_, count)| count)
                .sum(),
        ))
    }
}

impl Installs {
    pub fn total(&self) -> i64 {
        self.per_version.iter().map(|(_, count)| count).sum()
    }

    pub fn totals(&self, today: i64) -> Totals {
        let since = |first: i64| -> i64 {
            self.days
                .iter()
                .filter(|(day, _)| (first..=today).contains(day))
                .map(|(_, count)| count)
                .sum()
        };
        Totals {
            total: self.total(),
            monthly: since(today - MONTH_DAYS + 1),
            daily: since(today),
        }
    }

    /// Installs per day from `from_day` to `to_day` (inclusive), in points of `average`.
    pub fn series(&self, from_day: i64, to_day: i64, average: Average) -> Series {
        let count_on = |day: i64| -> i64 {
            self.days
                .binary_search_by_key(&day, |(d, _)| *d)
                .map_or(0, |i| self.days[i].1)
        };
        let mut labels = Vec::new();
        let mut values = Vec::new();
        let mut day = from_day;
        while day <= to_day {
            let (label, end) = match average {
                Average::Daily => (date_label(day), day),
                Average::Weekly => (date_label(day), (day + 6).min(to_day)),
                Average::Monthly => {
                    let label = date_label(day)[..7].to_owned();
                    let mut end = day;
                    while end < to_day && date_label(end + 1)[..7] == label {
                        end += 1;
                    }
                    (label, end)
                }
            };
            let sum: i64 = (day..=end).map(count_on).sum();
            values.push(match average {
                Average::Daily => sum,
                // Packeton divides by a week and by an average month.
                Average::Weekly => (sum + 6) / 7,
                Average::Monthly => (sum as f64 / 30.41).ceil() as i64,
            });
            labels.push(label);
            day = end + 1;
        }
        if labels.is_empty() {
            labels.push(date_label(to_day));
            values.push(0);
        }
        Series {
            labels,
            values,
            average: average.as_str(),
        }
    }
}

/// `2026-12-01` for a day since 1970.
pub fn date_label(day: i64) -> String {
    crate::time::rfc3339(day * 86_400)[..10].to_owned()
}

/// A day as `from`/`to` take it: `2026-12-01`, nothing else.
pub fn parse_day(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    // parse_moment reads a date as the moment it ends.
    crate::time::parse_moment(text, 0).map(|end| end.div_euclid(DAY_MS) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installs(days: &[(i64, i64)]) -> Installs {
        Installs {
            versions: Vec::new(),
            per_version: vec![("1.0.0.0".into(), days.iter().map(|(_, c)| c).sum())],
            days: days.to_vec(),
            since: 0,
            first_day: 0,
        }
    }

    #[test]
    fn totals_count_today_and_the_last_30_days() {
        let today = 20_000;
        let stats = installs(&[(today - 40, 5), (today - 29, 2), (today - 1, 3), (today, 4)]);
        assert_eq!(
            stats.totals(today),
            Totals {
                total: 14,
                monthly: 9,
                daily: 4
            }
        );
    }

    #[test]
    fn series_are_bucketed_as_packeton_does() {
        let day = parse_day("2026-11-29").unwrap();
        assert_eq!(date_label(day), "2026-11-29");
        let stats = installs(&[(day, 7), (day + 2, 14)]);
        let daily = stats.series(day, day + 3, Average::Daily);
        assert_eq!(
            daily.labels,
            ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
        );
        assert_eq!(daily.values, [7, 0, 14, 0]);
        let weekly = stats.series(day, day + 8, Average::Weekly);
        assert_eq!(weekly.labels, ["2026-11-29", "2026-12-06"]);
        assert_eq!(weekly.values, [3, 0]);
        let monthly = stats.series(day, day + 3, Average::Monthly);
        assert_eq!(monthly.labels, ["2026-11", "2026-12"]);
        assert_eq!(monthly.values, [1, 1]);
        assert_eq!(monthly.average, "monthly");
        let empty = stats.series(day + 1, day, Average::Daily);
        assert_eq!((empty.labels.len(), empty.values), (1, vec![0]));
    }

    #[test]
    fn ranges_choose_their_average() {
        assert_eq!(Average::for_range(0, 30), Average::Daily);
        assert_eq!(Average::for_range(0, 400), Average::Weekly);
        assert_eq!(Average::for_range(0, 2000), Average::Monthly);
        assert_eq!(Average::parse("hourly"), None);
        assert_eq!(parse_day("2026-02-30"), None);
        assert_eq!(parse_day("2026-12-01T00:00:00Z"), None);
        assert_eq!(parse_day("-99999999d"), None);
        assert_eq!(parse_day("2026-1-011"), None);
        assert_eq!(parse_day("1970-01-01"), Some(0));
    }
}
