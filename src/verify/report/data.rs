//! The figures' data inside a `--json` report, written by the commands and
//! read back by `qmac report`: one type each, serialised the same way both
//! ways.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a layer's outputs differ: a sparse map over output position ×
/// channel of |diff| (the largest difference of any comparison at that
/// output: RTL vs golden, golden vs the case, integer path vs the case).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffMap {
    /// The output shape `[N, H, W, C]`: rows are positions
    /// `n·H·W + h·W + w`, columns channels.
    pub shape: [usize; 4],
    /// Differing outputs in all.
    pub total: usize,
    /// `[position, channel, |diff|]` of the first [`DiffMap::MAX_CELLS`]
    /// differing outputs, in index order.
    pub cells: Vec<[u64; 3]>,
}

impl DiffMap {
    /// At most this many cells are kept (a report stays small).
    pub const MAX_CELLS: usize = 50_000;

    /// The map of `shape` from `(flat NHWC index, |diff|)` of every
    /// differing output; `None` when nothing differs.
    pub fn collect(
        shape: [usize; 4],
        diffs: impl Iterator<Item = (usize, i64)>,
    ) -> Option<DiffMap> {
        let c = shape[3].max(1);
        let mut m = DiffMap {
            shape,
            ..Default::default()
        };
        for (i, d) in diffs {
            m.total += 1;
            if m.cells.len() < Self::MAX_CELLS {
                m.cells
                    .push([(i / c) as u64, (i % c) as u64, d.unsigned_abs()]);
            }
        }
        (m.total > 0).then_some(m)
    }

    /// Rows (output positions) and columns (channels) of the full map.
    pub fn dims(&self) -> (usize, usize) {
        let [n, h, w, c] = self.shape;
        (n * h * w, c)
    }
}

/// How many outputs of a layer differ from the framework by `diff`
/// (integer path − framework), and the verified cause that explains them
/// (`explained` false: no cause does, the layer fails).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffTally {
    pub diff: i64,
    pub cause: String,
    pub explained: bool,
    pub count: usize,
}

/// Tally `(diff, cause, explained)` of every differing output.
pub fn tally<'a>(diffs: impl Iterator<Item = (i64, &'a str, bool)>) -> Vec<DiffTally> {
    let mut m: BTreeMap<(i64, &str, bool), usize> = BTreeMap::new();
    for k in diffs {
        *m.entry(k).or_default() += 1;
    }
    m.into_iter()
        .map(|((diff, cause, explained), count)| DiffTally {
            diff,
            cause: cause.to_string(),
            explained,
            count,
        })
        .collect()
}

/// A narrow multiplier of `bits` against the 32-bit result of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidthPoint {
    pub bits: u32,
    pub compared: usize,
    pub mismatches: usize,
    pub max_abs: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_map_rows_are_positions_columns_channels() {
        let m = DiffMap::collect([1, 2, 3, 4], [(0, 1), (5, -3), (23, 2)].into_iter()).unwrap();
        assert_eq!(m.dims(), (6, 4));
        assert_eq!(m.total, 3);
        assert_eq!(m.cells, vec![[0, 0, 1], [1, 1, 3], [5, 3, 2]]);
        assert!(DiffMap::collect([1, 1, 1, 1], std::iter::empty()).is_none());
    }

    #[test]
    fn diff_map_keeps_at_most_max_cells_but_counts_all() {
        let n = DiffMap::MAX_CELLS + 10;
        let m = DiffMap::collect([1, 1, n, 1], (0..n).map(|i| (i, 1))).unwrap();
        assert_eq!(m.total, n);
        assert_eq!(m.cells.len(), DiffMap::MAX_CELLS);
    }

    #[test]
    fn tally_counts_each_diff_and_cause() {
        let t = tally(
            [
                (1, "tie", true),
                (-1, "tie", true),
                (1, "tie", true),
                (2, "x", false),
            ]
            .into_iter(),
        );
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].diff, -1);
        assert_eq!((t[1].diff, t[1].count), (1, 2));
        assert!(!t[2].explained);
    }
}
