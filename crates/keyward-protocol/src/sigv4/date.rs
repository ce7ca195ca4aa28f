//! The two date forms a SigV4 request may carry: ISO 8601 basic (`20150830T123600Z`, in
//! `X-Amz-Date`) and RFC 1123 (`Sun, 30 Aug 2015 12:36:00 GMT`, in `Date`). Parsed by hand:
//! both are fixed-width, and a hand parser cannot be talked into a panic.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn build(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// `yyyymmddThhmmssZ`, exactly.
pub(crate) fn parse_iso_basic(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    build(
        digits(s.get(0..4)?)?,
        digits(s.get(4..6)?)?,
        digits(s.get(6..8)?)?,
        digits(s.get(9..11)?)?,
        digits(s.get(11..13)?)?,
        digits(s.get(13..15)?)?,
    )
}

/// `Sun, 30 Aug 2015 12:36:00 GMT` (the weekday is not checked against the date).
pub(crate) fn parse_rfc1123(s: &str) -> Option<OffsetDateTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut words = s.split(' ').filter(|w| !w.is_empty());
    let weekday = words.next()?;
    if weekday.len() != 4 || !weekday.ends_with(',') {
        return None;
    }
    let day = words.next()?;
    if day.len() > 2 {
        return None;
    }
    let day = digits(day)?;
    let month = words.next()?;
    let month = MONTHS.iter().position(|m| *m == month)?;
    let year = words.next()?;
    if year.len() != 4 {
        return None;
    }
    let year = digits(year)?;
    let mut clock = words.next()?.split(':');
    let mut two = || clock.next().filter(|p| p.len() == 2).and_then(digits);
    let (hour, minute, second) = (two()?, two()?, two()?);
    if clock.next().is_some() || words.next()? != "GMT" || words.next().is_some() {
        return None;
    }
    build(
        year,
        u32::try_from(month).ok()? + 1,
        day,
        hour,
        minute,
        second,
    )
}

/// `yyyymmddThhmmssZ` of a UTC instant (offset ignored; our instants are UTC).
pub(crate) fn format_iso_basic(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_basic_round_trips() {
        let t = parse_iso_basic("20150830T123600Z");
        assert_eq!(t.map(format_iso_basic).as_deref(), Some("20150830T123600Z"));
        for bad in [
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150830T246000Z",
            "+0150830T123600Z",
            "",
        ] {
            assert_eq!(parse_iso_basic(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc1123_parses() {
        let t = parse_rfc1123("Sun, 30 Aug 2015 12:36:00 GMT");
        assert_eq!(t.map(format_iso_basic).as_deref(), Some("20150830T123600Z"));
        for bad in [
            "Sun, 30 Aug 2015 12:36:00",
            "Sun, 30 Aug 2015 12:36 GMT",
            "30 Aug 2015 12:36:00 GMT",
            "Sun, 31 Feb 2015 12:36:00 GMT",
        ] {
            assert_eq!(parse_rfc1123(bad), None, "{bad}");
        }
    }
}
