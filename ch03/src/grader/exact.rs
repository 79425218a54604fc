//! Exact values of constant expressions: sums of terms `c·√r·π^k` with a
//! rational `c`, a squarefree integer `r` and an integer `k`. Square roots of
//! distinct squarefree integers are linearly independent over the rationals
//! and π is transcendental, so this form is canonical: two values are equal
//! exactly when their term maps are equal.

use super::limits::{MAX_BITS, MAX_EXPONENT, MAX_RADICAND, MAX_TERMS};
use num_bigint::{BigInt, BigUint};
use num_integer::{Integer, Roots};
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::collections::BTreeMap;
use std::fmt;

/// Largest power of π kept exactly.
const MAX_PI_POWER: i32 = 64;

/// An exact real number `Σ c·√r·π^k`. Operations return `None` when the
/// result leaves this form or grows past the caps in [`super::limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exact {
    /// (radicand r, power of π k) → coefficient c; no zero coefficients.
    terms: BTreeMap<(BigUint, i32), BigRational>,
}

impl Exact {
    /// A rational number.
    pub fn rational(value: BigRational) -> Exact {
        Exact::term(value, BigUint::one(), 0)
    }

    /// π.
    pub fn pi() -> Exact {
        Exact::term(BigRational::one(), BigUint::one(), 1)
    }

    fn term(coefficient: BigRational, radicand: BigUint, pi_power: i32) -> Exact {
        let mut terms = BTreeMap::new();
        if !coefficient.is_zero() {
            terms.insert((radicand, pi_power), coefficient);
        }
        Exact { terms }
    }

    /// The value when it is rational.
    pub fn as_rational(&self) -> Option<BigRational> {
        match self.terms.len() {
            0 => Some(BigRational::zero()),
            1 => self.terms.get(&(BigUint::one(), 0)).cloned(),
            _ => None,
        }
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }

    /// `-self`.
    pub fn neg(&self) -> Exact {
        let terms = self.terms.iter().map(|(k, c)| (k.clone(), -c)).collect();
        Exact { terms }
    }

    /// `self + other`.
    pub fn add(&self, other: &Exact) -> Option<Exact> {
        let mut terms = self.terms.clone();
        for (key, c) in &other.terms {
            let sum = terms.get(key).map_or_else(|| c.clone(), |a| a + c);
            if sum.is_zero() {
                terms.remove(key);
            } else {
                terms.insert(key.clone(), sum);
            }
        }
        Exact { terms }.checked()
    }

    /// `self · other`, using √a·√b = g·√((a/g)(b/g)) with g = gcd(a, b).
    pub fn mul(&self, other: &Exact) -> Option<Exact> {
        if self.terms.len() * other.terms.len() > MAX_TERMS * MAX_TERMS {
            return None;
        }
        let mut product = Exact {
            terms: BTreeMap::new(),
        };
        for ((ra, ka), ca) in &self.terms {
            for ((rb, kb), cb) in &other.terms {
                let g = ra.gcd(rb);
                let radicand = (ra / &g) * (rb / &g);
                let coefficient = ca * cb * BigRational::from_integer(BigInt::from(g));
                let pi_power = ka.checked_add(*kb).filter(|k| k.abs() <= MAX_PI_POWER)?;
                product = product.add(&Exact::term(coefficient, radicand, pi_power))?;
            }
        }
        Some(product)
    }

    /// `1 / self`: a single term directly; a sum of two radical classes
    /// `A + B` as `(A - B) / (A² - B²)` when `A² - B²` is a single term.
    pub fn recip(&self) -> Option<Exact> {
        let mut entries = self.terms.iter();
        match (entries.next(), entries.next(), entries.next()) {
            (Some(((r, k), c)), None, None) => {
                let r_value = BigRational::from_integer(BigInt::from(r.clone()));
                Exact::term((c * r_value).recip(), r.clone(), -k).checked()
            }
            (Some(_), Some(_), None) => {
                let (first, second) = self.split_first_term();
                let denominator = first.mul(&first)?.add(&second.mul(&second)?.neg())?;
                if denominator.terms.len() != 1 {
                    return None;
                }
                first.add(&second.neg())?.mul(&denominator.recip()?)
            }
            _ => None,
        }
    }

    /// (the first term, the rest).
    fn split_first_term(&self) -> (Exact, Exact) {
        let mut rest = self.clone();
        let (key, c) = rest.terms.pop_first().expect("called on a non-empty value");
        (Exact::term(c, key.0, key.1), rest)
    }

    /// `self ^ n` for an integer `n` with `|n| ≤ MAX_EXPONENT`.
    pub fn pow_int(&self, n: &BigInt) -> Option<Exact> {
        let magnitude = n.abs().to_u32().filter(|&m| m <= MAX_EXPONENT)?;
        let base = if n.is_negative() {
            self.recip()?
        } else {
            self.clone()
        };
        let mut result = Exact::rational(BigRational::one());
        let mut square = base;
        let mut bits = magnitude;
        while bits > 0 {
            if bits & 1 == 1 {
                result = result.mul(&square)?;
            }
            bits >>= 1;
            if bits > 0 {
                square = square.mul(&square)?;
            }
        }
        Some(result)
    }

    /// `self ^ (p/q)`: exact when the `q`-th root is (or `q` = 2 and the base is rational).
    pub fn pow_rational(&self, exponent: &BigRational) -> Option<Exact> {
        if exponent.is_integer() {
            return self.pow_int(exponent.numer());
        }
        let q = exponent.denom().to_u32().filter(|&q| q <= MAX_EXPONENT)?;
        self.pow_int(exponent.numer())?.root(q)
    }

    /// The principal `n`-th root (`n ≥ 2`), for a single non-negative term
    /// (or a negative rational with odd `n`).
    pub fn root(&self, n: u32) -> Option<Exact> {
        if self.is_zero() {
            return Some(self.clone());
        }
        let mut entries = self.terms.iter();
        let ((r, k), c) = entries.next()?;
        if entries.next().is_some() || !r.is_one() || k % n as i32 != 0 {
            return None;
        }
        let pi_power = k / n as i32;
        if c.is_negative() {
            return (n % 2 == 1).then(|| self.neg().root(n).map(|v| v.neg()))?;
        }
        if let (Some(p), Some(q)) = (exact_root(c.numer(), n), exact_root(c.denom(), n)) {
            return Exact::term(BigRational::new(p, q), BigUint::one(), pi_power).checked();
        }
        if n != 2 {
            return None;
        }
        // √(p/q) = √(p·q) / q = s·√r / q.
        let pq = (c.numer() * c.denom())
            .to_u64()
            .filter(|&v| v <= MAX_RADICAND)?;
        let (outside, inside) = square_part(pq);
        let coefficient = BigRational::new(BigInt::from(outside), c.denom().clone());
        Exact::term(coefficient, BigUint::from(inside), pi_power).checked()
    }

    /// Rejects values whose numbers exceed the bit cap or term count.
    fn checked(self) -> Option<Exact> {
        let small = self.terms.len() <= MAX_TERMS
            && self.terms.iter().all(|((r, _), c)| {
                r.bits() <= MAX_BITS && c.numer().bits() <= MAX_BITS && c.denom().bits() <= MAX_BITS
            });
        small.then_some(self)
    }
}

/// The exact `n`-th root of a non-negative integer, if it is a perfect power.
fn exact_root(value: &BigInt, n: u32) -> Option<BigInt> {
    if value.is_negative() || value.bits() > MAX_BITS {
        return None;
    }
    let root = value.nth_root(n);
    (num_traits::Pow::pow(&root, n) == *value).then_some(root)
}

/// `n = outside² · inside` with `inside` squarefree: trial division up to the
/// cube root of what remains, whose cofactor is then 1, p, p·q or p².
pub fn square_part(n: u64) -> (u64, u64) {
    let (mut outside, mut inside, mut rest) = (1u64, 1u64, n);
    let mut d = 2u64;
    while d.saturating_mul(d).saturating_mul(d) <= rest {
        let mut exponent = 0;
        while rest % d == 0 {
            rest /= d;
            exponent += 1;
        }
        outside *= d.pow(exponent / 2);
        if exponent % 2 == 1 {
            inside *= d;
        }
        d += if d == 2 { 1 } else { 2 };
    }
    let root = rest.sqrt();
    if root > 1 && root * root == rest {
        (outside * root, inside)
    } else {
        (outside, inside * rest)
    }
}

impl fmt::Display for Exact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terms.is_empty() {
            return f.write_str("0");
        }
        for (i, ((r, k), c)) in self.terms.iter().enumerate() {
            match (i, c.is_negative()) {
                (0, true) => f.write_str("-")?,
                (0, false) => {}
                (_, true) => f.write_str(" - ")?,
                (_, false) => f.write_str(" + ")?,
            }
            let magnitude = c.abs();
            let symbolic = !r.is_one() || *k != 0;
            match (symbolic, magnitude.is_one(), magnitude.is_integer()) {
                (true, true, _) => {}
                (true, false, false) => write!(f, "({magnitude})·")?,
                _ => write!(f, "{magnitude}")?,
            }
            if !r.is_one() {
                write!(f, "√{r}")?;
            }
            match k {
                0 => {}
                1 => f.write_str("π")?,
                k => write!(f, "π^{k}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(n: i64) -> Exact {
        Exact::rational(BigRational::from_integer(n.into()))
    }

    #[test]
    fn square_part_splits_off_squares() {
        assert_eq!(square_part(72), (6, 2));
        assert_eq!(square_part(49), (7, 1));
        assert_eq!(square_part(30), (1, 30));
        assert_eq!(square_part(1), (1, 1));
        let p = 94_906_249u64; // a prime: p² < 2^53 leaves it past the trial divisions
        assert_eq!(square_part(p * p), (p, 1));
        assert_eq!(square_part(2 * p * p), (p, 2));
    }

    #[test]
    fn radicals_reach_a_canonical_form() {
        let sqrt2 = int(2).root(2).expect("√2");
        let sqrt8 = int(8).root(2).expect("√8");
        assert_eq!(sqrt8, int(2).mul(&sqrt2).expect("2√2"));
        let one_plus = int(1).add(&sqrt2).expect("1 + √2");
        let expected = sqrt2.add(&int(-1)).expect("√2 - 1");
        assert_eq!(one_plus.recip().expect("rationalized"), expected);
        assert_eq!(sqrt2.pow_int(&BigInt::from(2)), Some(int(2)));
        assert_eq!(int(-8).root(3), Some(int(-2)));
        assert_eq!(int(-4).root(2), None);
        assert_eq!(int(0).recip(), None);
        assert_ne!(Exact::pi(), int(3));
    }
}
