//! When a photo was taken, from its EXIF data: what tells two shots of one scene apart.
//!
//! Owns reading the capture time (`DateTimeOriginal` with `SubSecTimeOriginal`) from the
//! EXIF data of any container the EXIF reader knows (JPEG, TIFF and TIFF-based RAW, HEIF,
//! PNG, WebP), or of the EXIF block of a Canon CR3 or Fujifilm RAF, and the
//! rule [`CaptureTime::distinct_shots`]. An edited copy keeps its original's capture time or
//! has none (most editors and converters drop EXIF), so two pictures that both carry one and
//! carry different ones are two exposures, a burst or a retake, never an edited copy of one
//! another, however alike their pixels. Never decodes pixels; a file without readable EXIF
//! simply has no capture time.

use std::io::Cursor;

/// The moment a photo was taken, as its camera recorded it (local time, no zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureTime {
    /// Seconds since 1970-01-01 00:00:00 of the camera's clock.
    seconds: i64,
    /// Fraction of the second in nanoseconds, when the camera recorded it.
    nanos: Option<u32>,
}

impl CaptureTime {
    /// The capture time in a file's bytes, if its EXIF data has a valid `DateTimeOriginal`.
    pub fn of(bytes: &[u8]) -> Option<CaptureTime> {
        let exif = match exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
            Ok(exif) => exif,
            Err(_) => {
                let block = crate::ingest::raw::exif_block(bytes)?;
                exif::Reader::new().read_raw(block.to_vec()).ok()?
            }
        };
        // By number: a CR3 keeps these Exif-IFD tags in the IFD0 of its own TIFF block.
        let field = |number: u16| {
            exif.fields()
                .find(|f| f.tag.number() == number && f.ifd_num == exif::In::PRIMARY)
        };
        let exif::Value::Ascii(ref text) = field(exif::Tag::DateTimeOriginal.number())?.value
        else {
            return None;
        };
        let mut when = exif::DateTime::from_ascii(text.first()?).ok()?;
        if let Some(sub) = field(exif::Tag::SubSecTimeOriginal.number()) {
            if let exif::Value::Ascii(ref text) = sub.value {
                if let Some(digits) = text.first() {
                    // A malformed fraction is ignored, not the whole time.
                    let _ = when.parse_subsec(digits);
                }
            }
        }
        CaptureTime::from_parts(
            [when.year, when.month.into(), when.day.into()],
            [when.hour.into(), when.minute.into(), when.second.into()],
            when.nanosecond,
        )
    }

    /// A capture time from its calendar date, its time of day and a fraction of a second;
    /// `None` when the date or time is not a real one (cameras write "0000:00:00 00:00:00"
    /// when their clock was never set).
    fn from_parts(
        [year, month, day]: [u16; 3],
        [hour, minute, second]: [u16; 3],
        nanos: Option<u32>,
    ) -> Option<CaptureTime> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour < 24
            && minute < 60
            && second < 61;
        if !valid {
            return None;
        }
        let days = days_from_civil(year as i64, month as i64, day as i64);
        let seconds = days * 86_400 + hour as i64 * 3_600 + minute as i64 * 60 + second as i64;
        Some(CaptureTime { seconds, nanos })
    }

    /// Whether two photos with these capture times are two different exposures. Not when the
    /// times agree (to the second, and to the fraction where both have one), nor when they
    /// differ by a whole number of hours with the same minutes, seconds and fraction: that is
    /// one photo whose clock was moved to another time zone by an editor.
    pub fn distinct_shots(&self, other: &CaptureTime) -> bool {
        let fractions_differ = matches!((self.nanos, other.nanos), (Some(a), Some(b)) if a != b);
        let apart = (self.seconds - other.seconds).abs();
        if apart == 0 {
            return fractions_differ;
        }
        let zone_shift = apart % 3_600 == 0 && apart <= 26 * 3_600;
        !zone_shift || fractions_differ
    }

    /// Whether two files with these capture times (`None`: the file has none) are two
    /// different exposures: only when both have one and [`CaptureTime::distinct_shots`] says so.
    pub fn two_shots(a: Option<&CaptureTime>, b: Option<&CaptureTime>) -> bool {
        matches!((a, b), (Some(a), Some(b)) if a.distinct_shots(b))
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hms: [u16; 3], nanos: Option<u32>) -> CaptureTime {
        CaptureTime::from_parts([2026, 3, 1], hms, nanos).unwrap()
    }

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            days_from_civil(2026, 3, 1) - days_from_civil(2026, 2, 28),
            1
        );
        assert_eq!(
            days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28),
            2
        );
    }

    #[test]
    fn shots_a_moment_apart_are_distinct_and_one_shot_is_not() {
        let shot = at([10, 15, 30], Some(120_000_000));
        assert!(!shot.distinct_shots(&shot));
        assert!(shot.distinct_shots(&at([10, 15, 31], Some(120_000_000))));
        // A burst within one second, told apart by the fraction.
        assert!(shot.distinct_shots(&at([10, 15, 30], Some(370_000_000))));
        // Without a fraction on both sides, one second is all there is to compare.
        assert!(!shot.distinct_shots(&at([10, 15, 30], None)));
        // A copy whose clock an editor moved by two time zones is still one shot ...
        assert!(!shot.distinct_shots(&at([12, 15, 30], Some(120_000_000))));
        // ... but a retake an hour later with another fraction is not.
        assert!(shot.distinct_shots(&at([11, 15, 30], Some(500_000_000))));
        // A file without a capture time says nothing.
        let other = at([10, 15, 31], None);
        assert!(CaptureTime::two_shots(Some(&shot), Some(&other)));
        assert!(!CaptureTime::two_shots(Some(&shot), None));
        assert!(!CaptureTime::two_shots(None, None));
    }

    #[test]
    fn unset_clocks_give_no_time() {
        assert_eq!(CaptureTime::from_parts([0, 0, 0], [0, 0, 0], None), None);
        assert_eq!(
            CaptureTime::from_parts([2026, 13, 1], [0, 0, 0], None),
            None
        );
        assert_eq!(
            CaptureTime::from_parts([2026, 1, 1], [24, 0, 0], None),
            None
        );
    }

    #[test]
    fn a_file_without_exif_has_no_capture_time() {
        let mut png = Vec::new();
        image::RgbImage::new(4, 4)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(CaptureTime::of(&png), None);
        assert_eq!(CaptureTime::of(b"not an image"), None);
    }
}
