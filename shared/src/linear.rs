//! Linear layers: the one place that decides how a weight matrix multiplies a vector.
//! (Placeholder f32-only version until the kernel branch lands.)

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::Result;

/// A weight matrix of `rows` outputs × `cols` inputs.
#[derive(Debug, Clone)]
pub struct WeightMatrix {
    w: Array2<f32>,
}

impl WeightMatrix {
    /// From row-major f32 data.
    pub fn from_f32(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        Ok(WeightMatrix {
            w: Array2::from_shape_vec((rows, cols), data).unwrap(),
        })
    }
    /// From GGML blocks (placeholder: dequantized).
    pub fn from_blocks(
        dtype: crate::io::DType,
        rows: usize,
        cols: usize,
        bytes: Vec<u8>,
    ) -> Result<Self> {
        Self::from_f32(
            rows,
            cols,
            crate::io::dequantize_to_vec(dtype, &bytes, rows * cols)?,
        )
    }
    /// Outputs.
    pub fn rows(&self) -> usize {
        self.w.nrows()
    }
    /// Inputs.
    pub fn cols(&self) -> usize {
        self.w.ncols()
    }
    /// y = W x.
    pub fn matvec(&self, x: &[f32], y: &mut [f32]) {
        for (r, y) in self.w.rows().into_iter().zip(y) {
            *y = r.iter().zip(x).map(|(a, b)| a * b).sum();
        }
    }
    /// Y = X Wᵀ.
    pub fn matmul(&self, x: ArrayView2<f32>, mut y: ArrayViewMut2<f32>) {
        y.assign(&x.dot(&self.w.t()));
    }
    /// One row.
    pub fn row_to_f32(&self, r: usize, out: &mut [f32]) {
        out.copy_from_slice(self.w.row(r).as_slice().unwrap());
    }
}
