//! Evaluating an [`Expr`] at a point (values for its variables): exactly, as
//! an [`Exact`], or approximately, as an `f64`.

use super::exact::Exact;
use super::expr::Expr;
use super::limits::MAX_FACTORIAL;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive};
use std::collections::BTreeMap;

/// Values for the variables of an expression.
pub type Point<T> = BTreeMap<String, T>;

/// The exact value of `expr` at `point`, or `None` when it is not of the form
/// `Σ c·√r·π^k` (functions, ∞, roots of sums) or exceeds a cap.
pub fn eval_exact(expr: &Expr, point: &Point<BigRational>) -> Option<Exact> {
    match expr {
        Expr::Num(r) => Some(Exact::rational(r.clone())),
        Expr::Var(name) => point.get(name).cloned().map(Exact::rational),
        Expr::Pi => Some(Exact::pi()),
        Expr::Neg(x) => Some(eval_exact(x, point)?.neg()),
        Expr::Add(terms) => terms.iter().try_fold(
            Exact::rational(BigRational::from_integer(0.into())),
            |acc, t| acc.add(&eval_exact(t, point)?),
        ),
        Expr::Mul(factors) => factors
            .iter()
            .try_fold(Exact::rational(BigRational::one()), |acc, f| {
                acc.mul(&eval_exact(f, point)?)
            }),
        Expr::Div(a, b) => eval_exact(a, point)?.mul(&eval_exact(b, point)?.recip()?),
        Expr::Pow(a, b) => {
            let exponent = eval_exact(b, point)?.as_rational()?;
            eval_exact(a, point)?.pow_rational(&exponent)
        }
        Expr::Root(n, x) => eval_exact(x, point)?.root(*n),
        Expr::Func(name, x) if name == "abs" => {
            Some(Exact::rational(eval_exact(x, point)?.as_rational()?.abs()))
        }
        Expr::Factorial(x) => factorial(&eval_exact(x, point)?.as_rational()?).map(Exact::rational),
        _ => None,
    }
}

/// `n!` for an integer `0 ≤ n ≤ MAX_FACTORIAL`.
fn factorial(n: &BigRational) -> Option<BigRational> {
    let n = n.is_integer().then(|| n.to_integer().to_u32())??;
    (n <= MAX_FACTORIAL).then(|| BigRational::from_integer((1..=n).map(BigInt::from).product()))
}

/// The value of `expr` at `point` in floating point; `None` when it is not
/// finite or not real.
pub fn eval_f64(expr: &Expr, point: &Point<f64>) -> Option<f64> {
    let value = match expr {
        Expr::Num(r) => r.to_f64()?,
        Expr::Var(name) => *point.get(name)?,
        Expr::Pi => std::f64::consts::PI,
        Expr::Neg(x) => -eval_f64(x, point)?,
        Expr::Add(terms) => terms
            .iter()
            .map(|t| eval_f64(t, point))
            .sum::<Option<f64>>()?,
        Expr::Mul(factors) => factors
            .iter()
            .map(|f| eval_f64(f, point))
            .product::<Option<f64>>()?,
        Expr::Div(a, b) => eval_f64(a, point)? / eval_f64(b, point)?,
        Expr::Pow(a, b) => {
            let base = eval_f64(a, point)?;
            let power = base.powf(eval_f64(b, point)?);
            // An underflow to zero is not a value.
            if power == 0.0 && base != 0.0 {
                return None;
            }
            power
        }
        Expr::Root(2, x) => eval_f64(x, point)?.sqrt(),
        Expr::Root(n, x) => {
            let v = eval_f64(x, point)?;
            let root = v.abs().powf(1.0 / f64::from(*n));
            if v < 0.0 && n % 2 == 1 {
                -root
            } else if v < 0.0 {
                f64::NAN
            } else {
                root
            }
        }
        Expr::Func(name, x) => apply_function(name, eval_f64(x, point)?)?,
        Expr::Factorial(x) => {
            let n = eval_f64(x, point)?;
            if n.fract() != 0.0 || !(0.0..=170.0).contains(&n) {
                return None;
            }
            (1..=n as u32).map(f64::from).product()
        }
        _ => return None,
    };
    value.is_finite().then_some(value)
}

/// A named function applied to a real number.
fn apply_function(name: &str, x: f64) -> Option<f64> {
    Some(match name {
        "abs" => x.abs(),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "cot" => 1.0 / x.tan(),
        "sec" => 1.0 / x.cos(),
        "csc" => 1.0 / x.sin(),
        "ln" => x.ln(),
        "log" => x.log10(),
        "exp" => x.exp(),
        "arcsin" => x.asin(),
        "arccos" => x.acos(),
        "arctan" => x.atan(),
        "sinh" => x.sinh(),
        "cosh" => x.cosh(),
        "tanh" => x.tanh(),
        _ => return None,
    })
}
