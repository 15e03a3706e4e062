//! The host's clock, and civil dates from it (UTC, proleptic Gregorian).

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A moment as a calendar knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 (Sunday) to 6.
    pub weekday: u32,
    pub hour: u32,
    pub minute: u32,
}

/// The civil date and time of `secs` since the epoch, in UTC.
pub fn civil(secs: u64) -> Civil {
    let days = (secs / 86400) as i64;
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    Civil {
        year: yoe + era * 400 + i64::from(month <= 2),
        month,
        day,
        // 1970-01-01 was a Thursday.
        weekday: ((days + 4).rem_euclid(7)) as u32,
        hour: ((secs % 86400) / 3600) as u32,
        minute: ((secs % 3600) / 60) as u32,
    }
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM UTC`, for messages.
pub fn rfc3339(secs: u64) -> String {
    let c = civil(secs);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let c = civil(0);
        assert_eq!((c.year, c.month, c.day, c.weekday), (1970, 1, 1, 4));
        let c = civil(951_782_400 + 3600 + 120);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute),
            (2000, 2, 29, 1, 2)
        );
        assert_eq!(c.weekday, 2, "a Tuesday");
        assert_eq!(civil(1_796_256_000).weekday, 4, "2026-12-03 is a Thursday");
    }
}
