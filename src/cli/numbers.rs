//! Parsers of numeric options: every number typed on the command line is checked against the
//! range that makes sense as it is parsed, so a wrong one is refused at once (exit status 2),
//! naming the option, the value and the range, before any work or any file is created.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The values `--max-pixels` takes: one pixel to a tebipixel (2^40).
pub const MAX_PIXELS: RangeInclusive<u64> = 1..=1 << 40;

/// A whole number in `range` (a negative one is out of range too, not "an invalid digit").
pub fn count<T>(
    range: RangeInclusive<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: Copy + Display + TryInto<i128> + TryFrom<i128> + Send + Sync + 'static,
{
    let (min, max) = (*range.start(), *range.end());
    let low: i128 = min.try_into().unwrap_or(i128::MIN);
    let high: i128 = max.try_into().unwrap_or(i128::MAX);
    move |text| {
        let value: i128 = text
            .trim()
            .parse()
            .map_err(|_| format!("{text} is not a whole number"))?;
        if !(low..=high).contains(&value) {
            return Err(format!("{text} is not in {min}..={max}"));
        }
        T::try_from(value).map_err(|_| format!("{text} is not in {min}..={max}"))
    }
}

/// A number above 0 and at most `max` (NaN and infinities are refused).
pub fn positive<T>(max: f64) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + Into<f64> + Copy + Send + Sync + 'static,
{
    move |text| {
        let value = number::<T>(text)?;
        if value.into() > 0.0 && value.into() <= max {
            Ok(value)
        } else {
            Err(format!("{text} is not above 0 and at most {max}"))
        }
    }
}

/// A number from `min` to `max`, both included (NaN and infinities are refused).
pub fn within<T>(
    min: f64,
    max: f64,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + Into<f64> + Copy + Send + Sync + 'static,
{
    move |text| {
        let value = number::<T>(text)?;
        if (min..=max).contains(&value.into()) {
            Ok(value)
        } else {
            Err(format!("{text} is not in {min}..={max}"))
        }
    }
}

fn number<T: FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_outside_their_range_are_refused() {
        let temperature = positive::<f64>(10.0);
        assert_eq!(temperature("0.1"), Ok(0.1));
        assert_eq!(temperature("10"), Ok(10.0));
        for bad in ["0", "-1", "10.5", "NaN", "inf", "x", ""] {
            assert!(temperature(bad).is_err(), "{bad:?} accepted");
        }
        let weight = within::<f32>(0.0, 255.0);
        assert_eq!(weight("0"), Ok(0.0));
        assert_eq!(weight(" 3.5 "), Ok(3.5));
        for bad in ["-0.1", "256", "nan", "-inf"] {
            assert!(weight(bad).is_err(), "{bad:?} accepted");
        }
        assert!(weight("300").unwrap_err().contains("0..=255"));
    }

    #[test]
    fn counts_outside_their_range_are_refused_with_the_range() {
        let k = count::<u64>(1..=100_000);
        assert_eq!(k("10"), Ok(10));
        assert_eq!(k(" 100000 "), Ok(100_000));
        assert_eq!(k("-1").unwrap_err(), "-1 is not in 1..=100000");
        assert_eq!(k("0").unwrap_err(), "0 is not in 1..=100000");
        assert_eq!(
            k("99999999999999999999999999").unwrap_err(),
            "99999999999999999999999999 is not in 1..=100000"
        );
        assert_eq!(k("1e3").unwrap_err(), "1e3 is not a whole number");
        assert_eq!(
            count::<u32>(32..=16_384)("16385").unwrap_err(),
            "16385 is not in 32..=16384"
        );
    }
}
