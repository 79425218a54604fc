//! Seeded sample points for identity testing of expressions with variables
//! (splitmix64, so grading is deterministic).

use super::eval::Point;
use num_bigint::BigInt;
use num_rational::BigRational;

/// How many points an identity is checked at.
pub const POINTS: u64 = 4;
const SEED: u64 = 0x005E_ED0F_3A7E;

/// One step of splitmix64.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `index`-th exact point: each variable gets a positive rational (about 1 to 700)
/// with denominator 1..=7 (non-integers catch identities that hold only on integers).
pub fn exact_point(variables: &[String], index: u64) -> Point<BigRational> {
    let mut state = SEED ^ index.wrapping_mul(0xA24B_AED4_963E_E407);
    variables
        .iter()
        .map(|name| {
            let numerator = 101 + splitmix64(&mut state) % 9_000;
            let denominator = 1 + splitmix64(&mut state) % 7;
            let value = BigRational::new(BigInt::from(numerator), BigInt::from(denominator * 13));
            (name.clone(), value)
        })
        .collect()
}

/// The `index`-th floating-point point: each variable in [0.5, 2.5).
pub fn float_point(variables: &[String], index: u64) -> Point<f64> {
    let mut state = SEED.rotate_left(17) ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    variables
        .iter()
        .map(|name| {
            let unit = (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            (name.clone(), 0.5 + 2.0 * unit)
        })
        .collect()
}
