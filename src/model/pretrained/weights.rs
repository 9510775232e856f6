//! `model.safetensors` of a Hugging Face model folder, memory-mapped.
//!
//! Owns looking tensors up by name and shape, in f32 whatever the file holds (f32, f16 or
//! bf16), with errors that name the file, the tensor and the shapes.

use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use memmap2::Mmap;
use safetensors::tensor::{Dtype, Metadata};
use std::path::{Path, PathBuf};

pub(crate) struct Weights {
    path: PathBuf,
    map: Mmap,
    header: usize,
    meta: Metadata,
}

impl Weights {
    pub fn open(path: &Path) -> Result<Weights> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only; a file changed under it changes the numbers read,
        // not memory safety of the reads (bounds come from the header, checked below).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let (header, meta) = safetensors::SafeTensors::read_metadata(&map)
            .map_err(|e| problem(path, format!("not a safetensors file ({e})")))?;
        Ok(Weights {
            path: path.to_path_buf(),
            map,
            header,
            meta,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensor `name` as f32, checked to have `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let values = self.values(name, shape)?;
        Tensor::from_vec(values, shape, &Device::Cpu).map_err(Error::from)
    }

    /// The tensor `name`'s values as f32, checked to have `shape`.
    pub fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let info = self.meta.info(name).ok_or_else(|| {
            problem(
                &self.path,
                format!("has no tensor `{name}` (not a checkpoint of the family config.json names, or a file cut short?)"),
            )
        })?;
        if info.shape != shape {
            return Err(problem(
                &self.path,
                format!(
                    "tensor `{name}` has shape {:?}, but config.json implies {shape:?}",
                    info.shape
                ),
            ));
        }
        let (start, end) = info.data_offsets;
        let bytes = self
            .map
            .get(8 + self.header + start..8 + self.header + end)
            .ok_or_else(|| {
                problem(
                    &self.path,
                    format!("tensor `{name}` lies past the end of the file"),
                )
            })?;
        let count: usize = shape.iter().product();
        let values: Vec<f32> = match info.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(problem(
                    &self.path,
                    format!("tensor `{name}` is {other:?}; supported: F32, F16, BF16"),
                ))
            }
        };
        if values.len() != count {
            return Err(problem(
                &self.path,
                format!(
                    "tensor `{name}` holds {} values, its shape {count}",
                    values.len()
                ),
            ));
        }
        Ok(values)
    }
}

/// A problem with a file of a model folder.
pub(crate) fn problem(path: &Path, detail: impl Into<String>) -> Error {
    Error::Model {
        what: crate::text::path_text(path),
        detail: detail.into(),
    }
}
