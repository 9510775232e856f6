//! Writes the descriptors of a list of images, for analysis outside lookalike (numpy, ...).
//!
//! ```text
//! find target/data/imagenette/val -name '*.JPEG' | sort > val.txt
//! cargo run --release --example dump_descriptors -- default val.txt val.f32
//! ```
//!
//! MODEL is `default`, `imagenet` or a safetensors file. The output is `N x dim` little-endian
//! f32, unit rows in list order (a row of zeros for an image that could not be described),
//! and its dimension is printed on stdout.

use lookalike::ingest::decode::{prepare_files, DecodeOptions};
use lookalike::model::Encoder;
use std::io::Write;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, list, out] = args.as_slice() else {
        anyhow::bail!("usage: dump_descriptors MODEL LIST.txt OUT.f32");
    };
    let encoder = match model.as_str() {
        "default" => Encoder::default_model()?,
        "imagenet" => Encoder::imagenet()?,
        file => Encoder::from_file(file.as_ref())?,
    };
    let paths: Vec<PathBuf> = std::fs::read_to_string(list)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect();
    let opts = DecodeOptions::new(encoder.info().input_size as u32);
    let dim = encoder.info().dim;
    let mut writer = std::io::BufWriter::new(std::fs::File::create(out)?);
    let mut missing = 0;
    for chunk in paths.chunks(256) {
        let prepared = prepare_files(chunk, &opts);
        let ok: Vec<_> = prepared
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .cloned()
            .collect();
        let mut vectors = encoder.embed(&ok)?.into_iter();
        for p in &prepared {
            let v = match p {
                Ok(_) => vectors.next().flatten(),
                Err(_) => None,
            };
            missing += v.is_none() as usize;
            let v = v.unwrap_or_else(|| vec![0.0; dim]);
            for x in v {
                writer.write_all(&x.to_le_bytes())?;
            }
        }
    }
    writer.flush()?;
    eprintln!("{} images, {missing} not described", paths.len());
    println!("{dim}");
    Ok(())
}
