//! Matrix products for training: ndarray's `general_mat_mul`, split over rayon's
//! threads by blocks of rows of the result (ndarray alone multiplies on one core).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Products smaller than this many multiply-adds run on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// `a · b`, a new matrix.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    let mut c = Array2::<f32>::zeros((a.nrows(), b.ncols()));
    matmul_add(a, b, c.view_mut());
    c
}

/// `c += a · b`. Splits `c` along its longer side into one block per thread
/// (each block packs only its part of `a` or `b`).
pub fn matmul_add(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let threads = rayon::current_num_threads();
    if threads == 1 || m * k * n < PARALLEL_MIN_WORK || m.max(n) < 2 * threads {
        general_mat_mul(1.0, &a, &b, 1.0, &mut c);
        return;
    }
    if m >= n {
        let rows = m.div_ceil(threads);
        c.axis_chunks_iter_mut(Axis(0), rows)
            .into_par_iter()
            .zip(a.axis_chunks_iter(Axis(0), rows))
            .for_each(|(mut c, a)| general_mat_mul(1.0, &a, &b, 1.0, &mut c));
    } else {
        let cols = n.div_ceil(threads);
        c.axis_chunks_iter_mut(Axis(1), cols)
            .into_par_iter()
            .zip(b.axis_chunks_iter(Axis(1), cols))
            .for_each(|(mut c, b)| general_mat_mul(1.0, &a, &b, 1.0, &mut c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_product_equals_one_product() {
        let a = Array2::from_shape_fn((300, 70), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((70, 90), |(i, j)| ((i * 5 + j) % 13) as f32 - 6.0);
        let mut c = Array2::from_elem((300, 90), 1.0);
        matmul_add(a.view(), b.view(), c.view_mut());
        let expected = a.dot(&b) + 1.0;
        assert_eq!(c, expected);
        assert_eq!(matmul(a.t(), a.view()), a.t().dot(&a));
        assert_eq!(matmul(b.t(), a.t()), b.t().dot(&a.t()));
    }
}
