//! The figures' data inside a `--json` report, written by the commands and
//! read back by `qmac report`: one type each, serialised the same way both
//! ways.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a layer's outputs differ: a map over output position × channel of
/// |diff| (the largest difference of any judged comparison at that output:
/// RTL vs golden, golden vs the case, the integer path vs the case), binned
/// to at most [`DiffMap::MAX_ROWS`] × [`DiffMap::MAX_COLS`] cells so that
/// every differing output of any layer is in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffMap {
    /// The output shape `[N, H, W, C]`: rows are positions
    /// `n·H·W + h·W + w`, columns channels.
    pub shape: [usize; 4],
    /// Differing outputs in all.
    pub total: usize,
    /// Output positions per row cell, channels per column cell.
    pub rows_per_cell: usize,
    pub channels_per_cell: usize,
    /// Every cell holding a differing output: `[row cell, column cell,
    /// max |diff|, differing outputs]`, in row-major order.
    pub cells: Vec<[u64; 4]>,
}

impl DiffMap {
    pub const MAX_ROWS: usize = 160;
    pub const MAX_COLS: usize = 128;

    /// The map of `shape` from `(flat NHWC index, |diff|)` of every
    /// differing output; `None` when nothing differs.
    pub fn collect(
        shape: [usize; 4],
        diffs: impl Iterator<Item = (usize, i64)>,
    ) -> Option<DiffMap> {
        let [n, h, w, c] = shape;
        let (rows, cols) = ((n * h * w).max(1), c.max(1));
        let (rb, cb) = (rows.div_ceil(Self::MAX_ROWS), cols.div_ceil(Self::MAX_COLS));
        let mut cells: BTreeMap<(u64, u64), (u64, u64)> = BTreeMap::new();
        let mut total = 0;
        for (i, d) in diffs {
            total += 1;
            let key = (((i / cols) / rb) as u64, ((i % cols) / cb) as u64);
            let e = cells.entry(key).or_default();
            e.0 = e.0.max(d.unsigned_abs());
            e.1 += 1;
        }
        (total > 0).then(|| DiffMap {
            shape,
            total,
            rows_per_cell: rb,
            channels_per_cell: cb,
            cells: cells
                .into_iter()
                .map(|((r, c), (m, k))| [r, c, m, k])
                .collect(),
        })
    }

    /// Rows (output positions) and columns (channels) of the full map.
    pub fn dims(&self) -> (usize, usize) {
        let [n, h, w, c] = self.shape;
        (n * h * w, c)
    }

    /// How many outputs cell `(r, c)` covers (edge cells are smaller).
    pub fn cell_size(&self, r: u64, c: u64) -> u64 {
        let (rows, cols) = self.dims();
        let span = |k: u64, per: usize, n: usize| {
            let lo = k as usize * per;
            (lo + per).min(n).saturating_sub(lo) as u64
        };
        span(r, self.rows_per_cell, rows.max(1)) * span(c, self.channels_per_cell, cols.max(1))
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
        assert_eq!((m.rows_per_cell, m.channels_per_cell), (1, 1));
        assert_eq!(m.cells, vec![[0, 0, 1, 1], [1, 1, 3, 1], [5, 3, 2, 1]]);
        assert!(DiffMap::collect([1, 1, 1, 1], std::iter::empty()).is_none());
    }

    #[test]
    fn a_large_map_keeps_every_differing_output_in_its_cells() {
        // 112·112 positions × 200 channels, every other output differs.
        let shape = [1, 112, 112, 200];
        let n = 112 * 112 * 200;
        let m =
            DiffMap::collect(shape, (0..n).step_by(2).map(|i| (i, 1 + (i % 5) as i64))).unwrap();
        assert_eq!(m.total, n / 2);
        assert_eq!((m.rows_per_cell, m.channels_per_cell), (79, 2));
        assert!(m.cells.len() <= DiffMap::MAX_ROWS * DiffMap::MAX_COLS);
        assert_eq!(m.cells.iter().map(|c| c[3]).sum::<u64>() as usize, n / 2);
        assert!(m.cells.iter().all(|c| c[3] <= m.cell_size(c[0], c[1])));
        // The last row cell is short: 12544 = 158·79 + 62.
        assert_eq!(m.cell_size(158, 0), 62 * 2);
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
