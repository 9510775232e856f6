//! Fuzzes decoding and preprocessing: any bytes must give a prepared image of the requested
//! size or a reason, never a panic that escapes, a hang, or an allocation beyond the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookalike::ingest::decode::{self, DecodeOptions};

fuzz_target!(|data: &[u8]| {
    let opts = DecodeOptions {
        // Small enough that the fuzzer's 2 GB memory limit is never the finding.
        max_pixels: 16_000_000,
        ..DecodeOptions::new(64)
    };
    if let Ok(img) = decode::prepare(data, &opts) {
        assert_eq!(img.side, 64);
        assert_eq!(img.rgb.len(), 64 * 64 * 3);
    }
});
