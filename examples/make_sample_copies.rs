//! Derives the edited copies in `samples/copies/` from `samples/photos/`, so that the demo has
//! duplicates to find: a downscaled JPEG, a heavily recompressed JPEG, a crop, a brightened
//! copy and a byte-identical copy.
//!
//! ```text
//! cargo run --release --example make_sample_copies
//! ```

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::DynamicImage;
use std::path::Path;

fn save_jpeg(img: &DynamicImage, quality: u8, path: &Path) -> anyhow::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    JpegEncoder::new_with_quality(file, quality).encode_image(&img.to_rgb8())?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let photos = root.join("photos");
    let copies = root.join("copies");
    std::fs::create_dir_all(&copies)?;

    let chelsea = image::open(photos.join("chelsea.png"))?;
    let half = chelsea.resize(
        chelsea.width() / 2,
        chelsea.height() / 2,
        FilterType::Triangle,
    );
    save_jpeg(&half, 80, &copies.join("chelsea-half-size.jpg"))?;

    let coffee = image::open(photos.join("coffee.png"))?;
    save_jpeg(&coffee, 25, &copies.join("coffee-quality-25.jpg"))?;

    let astronaut = image::open(photos.join("astronaut.png"))?;
    let (w, h) = (astronaut.width(), astronaut.height());
    let crop = astronaut.crop_imm(w / 10, h / 10, w * 8 / 10, h * 8 / 10);
    save_jpeg(&crop, 85, &copies.join("astronaut-cropped.jpg"))?;

    let camera = image::open(photos.join("camera.png"))?;
    save_jpeg(
        &camera.brighten(30),
        85,
        &copies.join("camera-brighter.jpg"),
    )?;

    std::fs::copy(photos.join("rocket.jpg"), copies.join("rocket-backup.jpg"))?;
    eprintln!("wrote 5 copies to {}", copies.display());
    Ok(())
}
