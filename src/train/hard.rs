//! Hard-negative batches: before training, every training photo is described by a mining
//! encoder and its nearest photos are found; each epoch then orders the photos in small groups
//! of mutual neighbours, so that a batch holds distinct photos of one scene (burst shots, the
//! same subject photographed twice). The contrastive loss must then tell those apart from
//! edited copies, which random batches of a large folder almost never ask of it: they are the
//! negatives that set copy detection's high-precision threshold.
//!
//! Neighbours at or above [`COPY_CEILING`] are left out of the groups: in a user's folder they
//! are likely copies of each other, which must not be pushed apart.

use crate::error::{Error, Result};
use crate::model::describe::describe_files;
use crate::model::Encoder;
use crate::progress::Progress;
use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// Two photos this similar (cosine of the mining encoder) are treated as copies, not as
/// negatives to separate.
pub const COPY_CEILING: f32 = 0.97;

/// Nearest photos kept per photo (candidates for its group).
pub const CANDIDATES: usize = 16;

/// Rows of the similarity matrix computed at once (bounded memory: `ROWS x n` floats).
const ROWS: usize = 512;

/// Each photo's nearest photos, for [`grouped_order`].
#[derive(Debug, Clone, Default)]
pub struct Neighbours {
    /// Per photo, up to [`CANDIDATES`] other photos, most similar first.
    pub lists: Vec<Vec<u32>>,
    /// Per photo with neighbours, the similarity to its nearest (for the report).
    pub nearest_similarity: Vec<f32>,
}

/// What mining found, for the training report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MiningSummary {
    /// Photos with at least one neighbour below the copy ceiling.
    pub photos: usize,
    /// Median similarity of a photo to its nearest neighbour (mining encoder's cosine).
    pub median_nearest_similarity: f32,
    /// Neighbour pairs left out as likely copies (at or above [`COPY_CEILING`], each pair once).
    pub copy_pairs_skipped: usize,
}

impl Neighbours {
    pub fn summary(&self, copy_pairs_skipped: usize) -> MiningSummary {
        let mut s = self.nearest_similarity.clone();
        s.sort_by(f32::total_cmp);
        MiningSummary {
            photos: s.len(),
            median_nearest_similarity: s.get(s.len() / 2).copied().unwrap_or(0.0),
            copy_pairs_skipped,
        }
    }
}

/// For each photo, up to [`CANDIDATES`] other photos, most similar first, below
/// [`COPY_CEILING`]; and the number of pairs at or above it. Photos without a vector
/// (undecodable) have no neighbours and are nobody's.
pub fn nearest(vectors: &[Option<Vec<f32>>]) -> Result<(Neighbours, usize)> {
    let usable: Vec<usize> = (0..vectors.len())
        .filter(|&i| vectors[i].is_some())
        .collect();
    let mut found = Neighbours {
        lists: vec![Vec::new(); vectors.len()],
        nearest_similarity: Vec::new(),
    };
    let mut copies = 0;
    let Some(dim) = usable
        .first()
        .and_then(|&i| vectors[i].as_ref())
        .map(Vec::len)
    else {
        return Ok((found, 0));
    };
    let rows: Vec<f32> = usable
        .iter()
        .flat_map(|&i| vectors[i].as_ref().expect("usable").iter().copied())
        .collect();
    if rows.len() != usable.len() * dim {
        return Err(Error::InvalidArgument(
            "mining vectors differ in dimension".into(),
        ));
    }
    let all = Tensor::from_vec(rows, (usable.len(), dim), &Device::Cpu)?;
    let all_t = all.t()?.contiguous()?;
    for start in (0..usable.len()).step_by(ROWS) {
        let take = ROWS.min(usable.len() - start);
        let sims = all
            .narrow(0, start, take)?
            .matmul(&all_t)?
            .to_vec2::<f32>()?;
        for (r, row) in sims.into_iter().enumerate() {
            let me = start + r;
            copies += row
                .iter()
                .enumerate()
                .filter(|&(j, &s)| j > me && s >= COPY_CEILING)
                .count();
            let mut order: Vec<(f32, usize)> = row
                .into_iter()
                .enumerate()
                .filter(|&(j, s)| j != me && s < COPY_CEILING && s.is_finite())
                .map(|(j, s)| (s, j))
                .collect();
            let keep = CANDIDATES.min(order.len());
            if keep == 0 {
                continue;
            }
            order.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0));
            order.truncate(keep);
            order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            found.nearest_similarity.push(order[0].0);
            found.lists[usable[me]] = order.into_iter().map(|(_, j)| usable[j] as u32).collect();
        }
    }
    Ok((found, copies))
}

/// Describes `files` with `encoder` and finds each one's nearest photos ([`nearest`]).
pub fn mine(
    encoder: &Encoder,
    files: &[PathBuf],
    progress: &dyn Progress,
) -> Result<(Neighbours, MiningSummary)> {
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    // Photos the copy descriptor confuses are the negatives copy training needs.
    let vectors = describe_files(
        &paths,
        encoder,
        crate::model::Task::Copy,
        "finding hard negatives",
        progress,
    )?;
    let (neighbours, copies) = nearest(&vectors)?;
    let summary = neighbours.summary(copies);
    Ok((neighbours, summary))
}

/// The photo order of one epoch: starting from each photo in `base` order not yet placed, a
/// group of it and up to `group - 1` of its nearest photos not yet placed; the groups are then
/// shuffled (by `seed`) and laid end to end. A permutation of `0..neighbours.lists.len()`.
pub fn grouped_order(
    neighbours: &Neighbours,
    base: &[usize],
    group: usize,
    seed: u64,
) -> Vec<usize> {
    let mut placed = vec![false; neighbours.lists.len()];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in base {
        if placed[i] {
            continue;
        }
        placed[i] = true;
        let mut g = vec![i];
        for &j in &neighbours.lists[i] {
            if g.len() >= group.max(1) {
                break;
            }
            let j = j as usize;
            if !placed[j] {
                placed[j] = true;
                g.push(j);
            }
        }
        groups.push(g);
    }
    groups.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    groups.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unit vectors in clusters of `size` (cosine about 0.8 within, below the copy ceiling)
    /// around random centres, interleaved so that
    /// cluster mates are never adjacent in index order.
    fn clustered(clusters: usize, size: usize, dim: usize) -> Vec<Option<Vec<f32>>> {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        (0..clusters * size)
            .map(|i| {
                let c = &centres[i % clusters];
                let mut v: Vec<f32> = c.iter().map(|x| x + rng.random_range(-0.5..0.5)).collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= n);
                Some(v)
            })
            .collect()
    }

    #[test]
    fn nearest_finds_cluster_mates_first_and_skips_copies_and_missing_photos() {
        let mut vectors = clustered(30, 4, 32);
        // Photo 0 gets an exact copy (at the end) and photo 1 is undecodable.
        let copy = vectors[0].clone();
        vectors.push(copy);
        vectors[1] = None;
        let (found, copies) = nearest(&vectors).unwrap();
        assert_eq!(copies, 1);
        let lists = &found.lists;
        assert_eq!(lists.len(), vectors.len());
        assert!(lists[1].is_empty());
        // Photo 120 (the copy) belongs to photo 0's cluster.
        let cluster = |j: usize| if j == 120 { 0 } else { j % 30 };
        for (i, list) in lists.iter().enumerate() {
            assert!(!list.contains(&(i as u32)));
            assert!(!list.contains(&1), "photo {i} lists the undecodable photo");
            if i == 1 {
                continue;
            }
            // The cluster mates (except the missing photo, and a photo's own copy) come first.
            let mates = (0..vectors.len())
                .filter(|&j| j != i && j != 1 && cluster(j) == cluster(i))
                .filter(|&j| !matches!((i, j), (0, 120) | (120, 0)))
                .count();
            let first: Vec<usize> = list[..mates].iter().map(|&j| j as usize).collect();
            assert!(
                first.iter().all(|&j| cluster(j) == cluster(i)),
                "photo {i}: {first:?}"
            );
        }
        // The copy of photo 0 is above the ceiling: neither lists the other.
        assert!(!lists[0].contains(&120));
        assert!(!lists[120].contains(&0));
        assert!(lists[0].len() <= CANDIDATES);
        let summary = found.summary(copies);
        assert_eq!(summary.photos, vectors.len() - 1);
        assert!((0.6..COPY_CEILING).contains(&summary.median_nearest_similarity));
    }

    #[test]
    fn grouped_order_is_a_permutation_of_neighbour_groups_fixed_by_the_seed() {
        let vectors = clustered(25, 4, 32);
        let (lists, _) = nearest(&vectors).unwrap();
        let base: Vec<usize> = (0..vectors.len()).rev().collect();
        let order = grouped_order(&lists, &base, 4, 9);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        // Clusters of exactly the group size: every aligned run of four is one cluster.
        for run in order.chunks(4) {
            assert!(run.iter().all(|&j| j % 25 == run[0] % 25), "{run:?}");
        }
        assert_eq!(order, grouped_order(&lists, &base, 4, 9));
        assert_ne!(order, grouped_order(&lists, &base, 4, 10));
        // Group size 1: the base order's photos, only shuffled.
        let mut single = grouped_order(&lists, &base, 1, 9);
        single.sort_unstable();
        assert_eq!(single, sorted);
    }
}
