//! `preprocessor_config.json`: how a model wants its pixels, done as its image processor
//! does it (CLIP, SigLIP and DINOv2's `BitImageProcessor` in transformers).
//!
//! Owns reading the file into [`Processor`] and applying it to an upright RGB picture:
//! resize (the shortest edge to a length, or to an exact size; Pillow's bicubic, bit for
//! bit), centre crop, rescale, normalise, to `(3, height, width)` f32 values.

use super::resample::resize_rgb_pillow;
use serde_json::Value;

/// How the image is resized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resize {
    /// The shortest edge to this length, the other edge in proportion (rounded down).
    ShortestEdge(usize),
    /// To exactly `(height, width)`, whatever the aspect ratio.
    Exact(usize, usize),
    None,
}

/// What `preprocessor_config.json` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Processor {
    pub resize: Resize,
    /// `(height, width)` of the centre crop, if any.
    pub crop: Option<(usize, usize)>,
    pub rescale: Option<f64>,
    /// Mean and standard deviation per channel, if normalising.
    pub normalise: Option<([f32; 3], [f32; 3])>,
}

fn triple(v: Option<&Value>, key: &str) -> Result<[f32; 3], String> {
    let err = || format!("`{key}` must be a list of 3 numbers");
    match v {
        Some(Value::Array(a)) if a.len() == 3 => {
            let mut out = [0f32; 3];
            for (o, x) in out.iter_mut().zip(a) {
                *o = x.as_f64().ok_or_else(err)? as f32;
            }
            Ok(out)
        }
        Some(Value::Number(n)) => Ok([n.as_f64().ok_or_else(err)? as f32; 3]),
        _ => Err(err()),
    }
}

fn size_of(v: &Value, key: &str) -> Result<Resize, String> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).map(|x| x as usize);
    match v {
        Value::Number(x) => x
            .as_u64()
            .map(|s| Resize::ShortestEdge(s as usize))
            .ok_or_else(|| format!("`{key}` is {v}")),
        Value::Object(_) => {
            if let Some(s) = n("shortest_edge") {
                Ok(Resize::ShortestEdge(s))
            } else if let (Some(h), Some(w)) = (n("height"), n("width")) {
                Ok(Resize::Exact(h, w))
            } else {
                Err(format!(
                    "`{key}` is {v}; expected {{\"shortest_edge\": N}} or {{\"height\": H, \"width\": W}}"
                ))
            }
        }
        _ => Err(format!("`{key}` is {v}")),
    }
}

impl Processor {
    /// Reads `preprocessor_config.json`; the error names the field.
    pub fn parse(text: &str) -> Result<Processor, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let flag = |k: &str, default: bool| v.get(k).and_then(Value::as_bool).unwrap_or(default);
        let resize = if flag("do_resize", true) {
            let resample = v.get("resample").and_then(Value::as_u64).unwrap_or(3);
            if resample != 3 {
                return Err(format!(
                    "`resample` is {resample}; only 3 (bicubic) is supported"
                ));
            }
            size_of(v.get("size").ok_or("no `size`")?, "size")?
        } else {
            Resize::None
        };
        let crop = if flag("do_center_crop", false) {
            match size_of(v.get("crop_size").ok_or("no `crop_size`")?, "crop_size")? {
                Resize::Exact(h, w) => Some((h, w)),
                Resize::ShortestEdge(s) => Some((s, s)),
                Resize::None => None,
            }
        } else {
            None
        };
        let rescale = flag("do_rescale", true).then(|| {
            v.get("rescale_factor")
                .and_then(Value::as_f64)
                .unwrap_or(1.0 / 255.0)
        });
        let normalise = if flag("do_normalize", true) {
            let mean = triple(v.get("image_mean"), "image_mean")?;
            let std = triple(v.get("image_std"), "image_std")?;
            if std.iter().any(|s| *s <= 0.0) {
                return Err("`image_std` must be positive".into());
            }
            Some((mean, std))
        } else {
            None
        };
        if resize == Resize::None && crop.is_none() {
            return Err("neither resizes nor crops: the input size would vary".into());
        }
        Ok(Processor {
            resize,
            crop,
            rescale,
            normalise,
        })
    }

    /// `(height, width)` of the output.
    pub fn output_size(&self, (h, w): (usize, usize)) -> (usize, usize) {
        self.crop.unwrap_or_else(|| self.resized_size((h, w)))
    }

    fn resized_size(&self, (h, w): (usize, usize)) -> (usize, usize) {
        match self.resize {
            Resize::ShortestEdge(s) => {
                let (short, long) = (h.min(w), h.max(w));
                let long = (s as f64 * long as f64 / short as f64) as usize;
                if w <= h {
                    (long, s)
                } else {
                    (s, long)
                }
            }
            Resize::Exact(rh, rw) => (rh, rw),
            Resize::None => (h, w),
        }
    }

    /// `(3, height, width)` values of an RGB picture (`width * height * 3` bytes).
    pub fn apply(&self, rgb: &[u8], width: usize, height: usize) -> Vec<f32> {
        let (rh, rw) = self.resized_size((height, width));
        let resized;
        let src = if (rh, rw) != (height, width) {
            resized = resize_rgb_pillow(rgb, width, height, rw, rh);
            &resized[..]
        } else {
            rgb
        };
        let (oh, ow) = self.crop.unwrap_or((rh, rw));
        // transformers' centre crop: offsets rounded down, zero padding if the crop is larger.
        let top = (rh as i64 - oh as i64).div_euclid(2);
        let left = (rw as i64 - ow as i64).div_euclid(2);
        let scale = self.rescale.unwrap_or(1.0);
        let mut out = vec![0f32; 3 * oh * ow];
        for y in 0..oh {
            let sy = y as i64 + top;
            for x in 0..ow {
                let sx = x as i64 + left;
                let inside = sy >= 0 && sx >= 0 && (sy as usize) < rh && (sx as usize) < rw;
                for c in 0..3 {
                    let raw = if inside {
                        src[(sy as usize * rw + sx as usize) * 3 + c] as f64
                    } else {
                        0.0
                    };
                    let mut v = (raw * scale) as f32;
                    if let Some((mean, std)) = &self.normalise {
                        v = (v - mean[c]) / std[c];
                    }
                    out[(c * oh + y) * ow + x] = v;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_edge_keeps_the_aspect_rounded_down() {
        let p = Processor::parse(r#"{"size": {"shortest_edge": 224}, "do_center_crop": true, "crop_size": 224, "image_mean": 0.5, "image_std": [0.5, 0.5, 0.5]}"#).unwrap();
        assert_eq!(p.resized_size((480, 640)), (224, 298));
        assert_eq!(p.resized_size((640, 480)), (298, 224));
        assert_eq!(p.output_size((640, 480)), (224, 224));
    }

    #[test]
    fn refusals_name_the_field() {
        for (json, words) in [
            (
                r#"{"size": {"shortest_edge": 8}, "resample": 2, "image_mean": 0, "image_std": 1}"#,
                "resample",
            ),
            (
                r#"{"size": {"long": 8}, "image_mean": 0, "image_std": 1}"#,
                "size",
            ),
            (
                r#"{"size": 8, "image_mean": [1, 2], "image_std": 1}"#,
                "image_mean",
            ),
            (
                r#"{"size": 8, "image_mean": 0, "image_std": 0}"#,
                "image_std",
            ),
            (
                r#"{"do_resize": false, "image_mean": 0, "image_std": 1}"#,
                "input size",
            ),
        ] {
            let e = Processor::parse(json).unwrap_err();
            assert!(e.contains(words), "{json}: {e}");
        }
    }

    #[test]
    fn normalises_after_rescaling() {
        let p = Processor::parse(r#"{"size": {"height": 1, "width": 2}, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}"#).unwrap();
        let out = p.apply(&[0, 255, 51, 255, 0, 102], 2, 1);
        let expect = [-1.0, 1.0, 1.0, -1.0, -0.6, -0.2];
        for (a, b) in out.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
    }
}
