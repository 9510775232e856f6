//! The methods `eval` compares: the neural encoder, the perceptual hashes that czkawka and
//! imagededup compute (via the `image_hasher` crate, 64-bit, score `1 - hamming / 64`), and a
//! raw-pixel baseline (16x16 grey thumbnail, mean removed, cosine).

use crate::error::Result;
use crate::ingest::decode::PreparedImage;
use crate::ingest::thumbnail::{verified, Pattern, Thumbnail};
use crate::model::{Encoder, Task};
use image::{DynamicImage, RgbImage};
use image_hasher::{HashAlg, HasherConfig};

/// A way of describing images so that similar ones score high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The neural encoder (cosine of embeddings).
    Encoder,
    /// The neural encoder, normalised similarity against the model's background set
    /// (see [`crate::model::background`]).
    #[serde(rename = "encoder-norm")]
    EncoderNormalised,
    /// The normalised similarity plus the pixel check's bonus (see [`crate::ingest::thumbnail`]):
    /// how `dedup` scores pairs.
    EncoderVerified,
    /// Average hash (aHash).
    MeanHash,
    /// Difference hash (dHash): horizontal gradient signs.
    GradientHash,
    /// DCT hash (pHash): median of low DCT frequencies.
    DctHash,
    /// Blockhash.
    BlockHash,
    /// 16x16 grey thumbnail, mean removed, cosine.
    RawPixels,
    /// A pretrained model's embedding (CLIP, SigLIP, DINOv2: `--model DIR`), cosine.
    Pretrained,
}

impl Method {
    pub const ALL: [Method; 8] = [
        Method::Encoder,
        Method::EncoderNormalised,
        Method::EncoderVerified,
        Method::MeanHash,
        Method::GradientHash,
        Method::DctHash,
        Method::BlockHash,
        Method::RawPixels,
    ];
    pub const HASHES: [Method; 4] = [
        Method::MeanHash,
        Method::GradientHash,
        Method::DctHash,
        Method::BlockHash,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Encoder => "encoder",
            Method::EncoderNormalised => "encoder-norm",
            Method::EncoderVerified => "encoder-verified",
            Method::MeanHash => "mean-hash",
            Method::GradientHash => "gradient-hash",
            Method::DctHash => "dct-hash",
            Method::BlockHash => "block-hash",
            Method::RawPixels => "raw-pixels",
            Method::Pretrained => "pretrained",
        }
    }

    pub fn is_hash(self) -> bool {
        Method::HASHES.contains(&self)
    }

    /// Whether the method runs the neural encoder.
    pub fn is_encoder(self) -> bool {
        matches!(
            self,
            Method::Encoder | Method::EncoderNormalised | Method::EncoderVerified
        )
    }

    /// Whether the method needs the model's background set.
    pub fn needs_background(self) -> bool {
        matches!(self, Method::EncoderNormalised | Method::EncoderVerified)
    }

    /// Parses a comma-separated list: method names, `hashes` (all four) or `all`.
    pub fn parse_list(spec: &str) -> std::result::Result<Vec<Method>, String> {
        let mut out = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let add: Vec<Method> = match part {
                "all" => Method::ALL.to_vec(),
                "hashes" => Method::HASHES.to_vec(),
                "raw" => vec![Method::RawPixels],
                "ahash" | "mean" => vec![Method::MeanHash],
                "dhash" | "gradient" => vec![Method::GradientHash],
                "phash" | "dct" => vec![Method::DctHash],
                "blockhash" | "block" => vec![Method::BlockHash],
                "pretrained" => vec![Method::Pretrained],
                other => match Method::ALL.iter().find(|m| m.name() == other) {
                    Some(m) => vec![*m],
                    None => {
                        return Err(format!(
                            "unknown method `{other}` (known: encoder, encoder-norm, encoder-verified, pretrained, mean-hash, gradient-hash, dct-hash, block-hash, raw-pixels, hashes, all)"
                        ))
                    }
                },
            };
            for m in add {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        if out.is_empty() {
            return Err("no method given".into());
        }
        Ok(out)
    }
}

/// What a method computes for one image.
#[derive(Debug, Clone, PartialEq)]
pub enum Descriptor {
    /// A unit vector, compared by dot product.
    Vector(Vec<f32>),
    /// A 64-bit hash, compared by Hamming distance.
    Hash(u64),
    /// A unit vector and its background level, compared by normalised similarity.
    Normalised(Vec<f32>, f32),
    /// A unit vector, its background level and its thumbnail's pattern, compared by
    /// [`crate::ingest::thumbnail::verified`].
    Verified(Vec<f32>, f32, Box<Pattern>),
}

impl Descriptor {
    /// Similarity in [-1, 1] (vectors), [0, 1] (hashes), [-2, 2] (normalised) or
    /// [-2, 2.3] (verified).
    pub fn similarity(&self, other: &Descriptor) -> f32 {
        match (self, other) {
            (Descriptor::Vector(a), Descriptor::Vector(b)) => crate::vector::dot(a, b),
            (Descriptor::Hash(a), Descriptor::Hash(b)) => 1.0 - (a ^ b).count_ones() as f32 / 64.0,
            (Descriptor::Normalised(a, la), Descriptor::Normalised(b, lb)) => {
                crate::model::background::normalised(crate::vector::dot(a, b), *la, *lb)
            }
            (Descriptor::Verified(a, la, ta), Descriptor::Verified(b, lb, tb)) => verified(
                crate::model::background::normalised(crate::vector::dot(a, b), *la, *lb),
                ta.similarity(tb),
            ),
            _ => f32::NAN,
        }
    }
}

fn hash64(img: &DynamicImage, method: Method) -> u64 {
    let config = HasherConfig::new().hash_size(8, 8);
    let config = match method {
        Method::MeanHash => config.hash_alg(HashAlg::Mean),
        Method::GradientHash => config.hash_alg(HashAlg::Gradient),
        Method::DctHash => config.hash_alg(HashAlg::Median).preproc_dct(),
        Method::BlockHash => config.hash_alg(HashAlg::Blockhash),
        _ => unreachable!("not a hash method"),
    };
    let hash = config.to_hasher().hash_image(img);
    let bytes = hash.as_bytes();
    let mut word = [0u8; 8];
    word[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
    u64::from_le_bytes(word)
}

fn raw_pixels(img: &RgbImage) -> Vec<f32> {
    let grey = image::imageops::grayscale(img);
    let small = image::imageops::resize(&grey, 16, 16, image::imageops::FilterType::Triangle);
    let v: Vec<f32> = small.pixels().map(|p| p[0] as f32).collect();
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    let centred: Vec<f32> = v.iter().map(|x| x - mean).collect();
    // A flat image has no structure: any unit vector will do, it matches nothing in particular.
    crate::vector::normalised(centred).unwrap_or_else(|| {
        let mut u = vec![0.0; 256];
        u[0] = 1.0;
        u
    })
}

/// Descriptors of prepared images for each method, `out[m][i]` for `methods[m]`. Method
/// `encoder` uses the head for `task`; the normalised and verified scores are copy-detection
/// scores and use the copy head (of a two-head model, see [`crate::model::Head`]).
pub fn describe(
    methods: &[Method],
    encoder: &Encoder,
    task: Task,
    images: &[PreparedImage],
) -> Result<Vec<Vec<Descriptor>>> {
    let mut out = Vec::with_capacity(methods.len());
    // Embedded once for every encoder method.
    let stored: Vec<Option<Vec<f32>>> = if methods.iter().any(|m| m.is_encoder()) {
        encoder.embed(images)?
    } else {
        Vec::new()
    };
    // Each head's unit descriptors, zero for an image without a usable embedding.
    let head_vectors = |task: Task| -> Vec<Vec<f32>> {
        let head = encoder.info().head(task);
        stored
            .iter()
            .map(|v| match v {
                Some(v) => head.unit(v).into_owned(),
                None => vec![0.0; head.len],
            })
            .collect()
    };
    // The copy head's descriptors and their background levels: computed once for both the
    // normalised and the verified score.
    let mut scored: Option<(Vec<Vec<f32>>, Vec<f32>)> = None;
    for &m in methods {
        let ds: Vec<Descriptor> = match m {
            Method::Encoder => head_vectors(task)
                .into_iter()
                .map(Descriptor::Vector)
                .collect(),
            Method::Pretrained => {
                return Err(crate::Error::InvalidArgument(
                    "method pretrained: described by the pretrained model, not the encoder".into(),
                ))
            }
            Method::EncoderNormalised | Method::EncoderVerified => {
                if scored.is_none() {
                    let background = encoder.background()?.ok_or_else(|| {
                        crate::Error::InvalidArgument(format!(
                            "method {}: model {} has no background set (give one with \
                             --background DIR, or `lookalike calibrate` the model)",
                            m.name(),
                            encoder.info()
                        ))
                    })?;
                    let vectors = head_vectors(Task::Copy);
                    let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
                    let levels = background.par_levels(&refs);
                    scored = Some((vectors, levels));
                }
                let (vectors, levels) = scored.as_ref().expect("set above");
                vectors
                    .iter()
                    .zip(levels.iter().copied())
                    .zip(images)
                    .map(|((v, l), img)| match m {
                        Method::EncoderVerified => Descriptor::Verified(
                            v.clone(),
                            l,
                            Box::new(Thumbnail::of(img).pattern()),
                        ),
                        _ => Descriptor::Normalised(v.clone(), l),
                    })
                    .collect()
            }
            _ => {
                use rayon::prelude::*;
                images
                    .par_iter()
                    .map(|img| {
                        let rgb = RgbImage::from_raw(img.side, img.side, img.rgb.clone())
                            .expect("prepared image size");
                        if m == Method::RawPixels {
                            Descriptor::Vector(raw_pixels(&rgb))
                        } else {
                            Descriptor::Hash(hash64(&DynamicImage::ImageRgb8(rgb), m))
                        }
                    })
                    .collect()
            }
        };
        out.push(ds);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_lists_parse() {
        assert_eq!(
            Method::parse_list("encoder,raw").unwrap(),
            vec![Method::Encoder, Method::RawPixels]
        );
        assert_eq!(Method::parse_list("hashes").unwrap().len(), 4);
        assert_eq!(Method::parse_list("all,encoder").unwrap().len(), 8);
        assert_eq!(Method::parse_list("phash").unwrap(), vec![Method::DctHash]);
        assert!(Method::parse_list("sift").is_err());
    }

    #[test]
    fn json_names_are_the_names_the_command_line_takes() {
        for m in Method::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.name(), "{m:?}");
            assert_eq!(Method::parse_list(m.name()).unwrap(), vec![m]);
        }
    }

    #[test]
    fn normalised_descriptors_subtract_the_mean_background_level() {
        let a = Descriptor::Normalised(vec![1.0, 0.0], 0.5);
        let b = Descriptor::Normalised(vec![0.6, 0.8], 0.3);
        assert!((a.similarity(&b) - (0.6 - 0.4)).abs() < 1e-6);
        // Not comparable with a plain vector.
        assert!(a.similarity(&Descriptor::Vector(vec![1.0, 0.0])).is_nan());
    }

    #[test]
    fn hash_similarity_is_one_minus_normalised_hamming() {
        assert_eq!(Descriptor::Hash(0).similarity(&Descriptor::Hash(0)), 1.0);
        assert_eq!(
            Descriptor::Hash(0).similarity(&Descriptor::Hash(0b1111)),
            1.0 - 4.0 / 64.0
        );
        assert_eq!(
            Descriptor::Hash(0).similarity(&Descriptor::Hash(u64::MAX)),
            0.0
        );
    }

    #[test]
    fn hashes_and_raw_pixels_tell_images_apart() {
        let a = RgbImage::from_fn(64, 64, |x, _| image::Rgb([(x * 4) as u8, 0, 0]));
        let b = RgbImage::from_fn(64, 64, |_, y| image::Rgb([0, (y * 4) as u8, 0]));
        let prep = |img: &RgbImage| PreparedImage {
            rgb: img.as_raw().clone(),
            side: 64,
            width: 64,
            height: 64,
        };
        let encoder = Encoder::default_model().unwrap();
        let methods = [Method::GradientHash, Method::MeanHash, Method::RawPixels];
        let d = describe(
            &methods,
            &encoder,
            Task::Copy,
            &[prep(&a), prep(&a), prep(&b)],
        )
        .unwrap();
        for (m, ds) in methods.iter().zip(&d) {
            assert!((ds[0].similarity(&ds[1]) - 1.0).abs() < 1e-5, "{m:?}");
            assert!(ds[0].similarity(&ds[2]) < 0.9, "{m:?}");
        }
    }
}
