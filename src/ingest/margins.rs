//! Solid margins: padding, letterboxing and frames of one flat colour, found so that
//! [`crate::ingest::decode`] can leave them out before the picture is resized for the encoder.
//!
//! A copy posted with white padding (a square "no crop" post of a 3:2 photo), a video still
//! letterboxed in black, or a photo framed for printing shows the same picture as the original
//! in a smaller part of the input; cutting the margins first gives the encoder and the pixel
//! check (which sees the same prepared square) the picture itself. Every image is treated the
//! same way, so two images that differ only by their margins are prepared alike.
//!
//! A margin is a run of rows (or columns) along one side that all match the outermost row's
//! mean colour within [`TOLERANCE`] (up to [`OUTLIERS`] of their pixels may differ: dust,
//! compression ringing). Runs shorter than [`MIN_FRACTION`] of the side are ignored, and an axis
//! is left whole if its content would be under [`MIN_CONTENT`] of it (a document, a flat
//! graphic: nothing there to frame).

/// Largest difference of one channel from the margin colour that still counts as that colour
/// (JPEG at low quality leaves flat areas within about this).
pub const TOLERANCE: u8 = 8;

/// Fraction of a row's pixels that may differ from the margin colour.
pub const OUTLIERS: f32 = 0.01;

/// Margins thinner than this fraction of the side are left alone.
pub const MIN_FRACTION: f32 = 0.02;

/// An axis whose content would be shorter than this fraction of it is not trimmed.
pub const MIN_CONTENT: f32 = 0.25;

/// Images smaller than this on either side are never trimmed.
const MIN_SIDE: u32 = 32;

pub use image::math::Rect;

/// The RGB pixels being looked at, borrowed.
type View<'a> = image::ImageBuffer<image::Rgb<u8>, &'a [u8]>;

/// The part of an RGB image (`width * height * 3` bytes, row-major) inside its solid margins;
/// the whole image when it has none.
pub fn content(rgb: &[u8], width: u32, height: u32) -> Rect {
    let whole = Rect {
        x: 0,
        y: 0,
        width,
        height,
    };
    if width < MIN_SIDE || height < MIN_SIDE {
        return whole;
    }
    let Some(img) = View::from_raw(width, height, rgb) else {
        return whole;
    };
    // Rows first (spanning every column), then columns within the remaining rows, then rows
    // again within the remaining columns: a frame of two colours (side bars inside a
    // letterbox) comes off too.
    let (top, bottom) = trim_axis(&img, whole, Axis::Rows);
    let rows = Rect {
        y: top,
        height: bottom - top,
        ..whole
    };
    let (left, right) = trim_axis(&img, rows, Axis::Columns);
    let cols = Rect {
        x: left,
        width: right - left,
        ..rows
    };
    let (top, bottom) = trim_axis(&img, cols, Axis::Rows);
    Rect {
        y: top,
        height: bottom - top,
        ..cols
    }
}

#[derive(Clone, Copy)]
enum Axis {
    Rows,
    Columns,
}

/// The first and one past the last line of `within` (rows or columns) that are not margin.
fn trim_axis(img: &View, within: Rect, axis: Axis) -> (u32, u32) {
    let (start, end, span) = match axis {
        Axis::Rows => (within.y, within.y + within.height, within.width),
        Axis::Columns => (within.x, within.x + within.width, within.height),
    };
    let len = end - start;
    let line = |i: u32| -> Vec<[u8; 3]> {
        (0..span)
            .map(|j| match axis {
                Axis::Rows => img.get_pixel(within.x + j, i).0,
                Axis::Columns => img.get_pixel(i, within.y + j).0,
            })
            .collect()
    };
    let run = |lines: &mut dyn Iterator<Item = u32>, first: u32| -> u32 {
        let Some(colour) = flat_colour(&line(first)) else {
            return 0;
        };
        1 + lines.take_while(|&i| matches(&line(i), colour)).count() as u32
    };
    let head = run(&mut (start + 1..end), start);
    let tail = run(&mut (start..end - 1).rev(), end - 1);
    let min = ((len as f32 * MIN_FRACTION).ceil() as u32).max(2);
    let head = if head >= min { head } else { 0 };
    let tail = if tail >= min { tail } else { 0 };
    let content = len.saturating_sub(head + tail);
    if (content as f32) < len as f32 * MIN_CONTENT {
        return (start, end);
    }
    (start + head, end - tail)
}

/// The mean colour of a line, if the line is of that one colour.
fn flat_colour(line: &[[u8; 3]]) -> Option<[u8; 3]> {
    let mut sum = [0u64; 3];
    for p in line {
        for c in 0..3 {
            sum[c] += p[c] as u64;
        }
    }
    let n = line.len().max(1) as u64;
    let mean = sum.map(|s| ((s + n / 2) / n) as u8);
    matches(line, mean).then_some(mean)
}

/// Whether all but [`OUTLIERS`] of a line's pixels are within [`TOLERANCE`] of `colour`.
fn matches(line: &[[u8; 3]], colour: [u8; 3]) -> bool {
    let allowed = (line.len() as f32 * OUTLIERS) as usize;
    let off = line
        .iter()
        .filter(|p| (0..3).any(|c| p[c].abs_diff(colour[c]) > TOLERANCE))
        .count();
    off <= allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    /// A `w x h` picture of smooth gradients and stripes (no flat line anywhere).
    fn picture(w: u32, h: u32) -> Vec<[u8; 3]> {
        (0..h)
            .flat_map(|y| {
                (0..w).map(move |x| {
                    [
                        (x * 255 / w) as u8,
                        (y * 255 / h) as u8,
                        if (x / 7 + y / 5) % 2 == 0 { 40 } else { 210 },
                    ]
                })
            })
            .collect()
    }

    /// `inner` placed at (`bx`, `by`) on a canvas of `colour`.
    fn framed(
        inner: &[[u8; 3]],
        (iw, ih): (u32, u32),
        (bx, by): (u32, u32),
        (w, h): (u32, u32),
        colour: [u8; 3],
    ) -> Vec<u8> {
        let mut out = vec![colour; (w * h) as usize];
        for y in 0..ih {
            for x in 0..iw {
                out[((y + by) * w + x + bx) as usize] = inner[(y * iw + x) as usize];
            }
        }
        out.into_iter().flatten().collect()
    }

    #[test]
    fn a_picture_without_margins_is_whole() {
        let rgb: Vec<u8> = picture(120, 80).into_iter().flatten().collect();
        assert_eq!(content(&rgb, 120, 80), rect(0, 0, 120, 80));
    }

    #[test]
    fn padding_on_every_side_is_found() {
        let inner = picture(120, 80);
        let rgb = framed(&inner, (120, 80), (30, 12), (180, 104), [250, 250, 250]);
        assert_eq!(content(&rgb, 180, 104), rect(30, 12, 120, 80));
    }

    #[test]
    fn letterbox_with_noise_and_uneven_bars_is_found() {
        let inner = picture(160, 90);
        let mut rgb = framed(&inner, (160, 90), (0, 20), (160, 140), [8, 8, 8]);
        // Compression-like noise in the bars (within the tolerance), and a dust speck.
        for (i, v) in rgb.iter_mut().enumerate() {
            if i % 3 == 0 && *v < 30 {
                *v += (i % 7) as u8;
            }
        }
        rgb[(5 * 160 + 40) * 3] = 255;
        // Bars of 20 rows above and 30 below.
        let rect = content(&rgb, 160, 140);
        assert_eq!((rect.x, rect.width), (0, 160));
        assert_eq!((rect.y, rect.height), (20, 90));
    }

    #[test]
    fn a_frame_of_two_colours_comes_off() {
        // Black side bars inside white top and bottom bars.
        let inner = picture(100, 100);
        let barred = framed(&inner, (100, 100), (20, 0), (140, 100), [0, 0, 0]);
        let barred: Vec<[u8; 3]> = barred.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        let rgb = framed(&barred, (140, 100), (0, 25), (140, 150), [255, 255, 255]);
        assert_eq!(content(&rgb, 140, 150), rect(20, 25, 100, 100));
    }

    #[test]
    fn thin_lines_flat_pictures_and_tiny_images_are_left_whole() {
        // A one-pixel frame is not a margin.
        let inner = picture(200, 200);
        let rgb = framed(&inner, (200, 200), (1, 1), (202, 202), [0, 0, 0]);
        assert_eq!(content(&rgb, 202, 202).width, 202);
        // A flat picture (nearly all margin) keeps both axes.
        let dot = picture(10, 10);
        let rgb = framed(&dot, (10, 10), (95, 95), (200, 200), [255, 255, 255]);
        assert_eq!(content(&rgb, 200, 200).width, 200);
        assert_eq!(content(&rgb, 200, 200).height, 200);
        // Under 32 px: never trimmed.
        let rgb = framed(&picture(10, 10), (10, 10), (5, 5), (20, 20), [0, 0, 0]);
        assert_eq!(content(&rgb, 20, 20).width, 20);
    }
}
