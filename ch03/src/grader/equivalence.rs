//! When two parsed answers mean the same thing: shapes first (lists, tuples,
//! intervals, sets, matrices, relations), then values: exactly where the
//! values have the form `Σ c·√r·π^k` (at seeded points for variables), else in
//! floating point at seeded points, else by their printed form.

use super::eval::{eval_exact, eval_f64};
use super::expr::{Answer, Expr, Rel};
use super::limits::{MAX_ITEMS, MAX_PM_BRANCHES, MAX_UNORDERED_ITEMS};
use super::points::{exact_point, float_point, POINTS};
use std::collections::BTreeSet;

/// Relative tolerance of the floating-point fallback (used only when a value
/// has no exact form, e.g. `\sin 1`).
const FLOAT_TOLERANCE: f64 = 1e-10;

/// Whether two answers are equivalent.
pub fn answers_equal(a: &Answer, b: &Answer) -> bool {
    match (a, b) {
        (
            Answer::Relation {
                rel: ra,
                lhs: la,
                rhs: xa,
            },
            Answer::Relation {
                rel: rb,
                lhs: lb,
                rhs: xb,
            },
        ) => relations_equal(*ra, la, xa, *rb, lb, xb),
        (Answer::Relation { rel, rhs, .. }, other) | (other, Answer::Relation { rel, rhs, .. }) => {
            matches!(rel, Rel::Eq | Rel::In) && answers_equal(rhs, other)
        }
        (Answer::Text(x), Answer::Text(y)) => x.replace(' ', "") == y.replace(' ', ""),
        (Answer::Text(_), _) | (_, Answer::Text(_)) => false,
        (Answer::Union(x), Answer::Union(y)) => unordered_equal(x, y, exprs_equal),
        (Answer::Union(_), _) | (_, Answer::Union(_)) => false,
        (Answer::Expr(x), Answer::Expr(y)) => exprs_equal(x, y),
        (Answer::List(x), Answer::Expr(Expr::Tuple { items, .. }))
        | (Answer::Expr(Expr::Tuple { items, .. }), Answer::List(x)) => {
            x.len() == items.len()
                && x.iter()
                    .zip(items)
                    .all(|(a, e)| answers_equal(a, &Answer::Expr(e.clone())))
        }
        (Answer::List(_), _) | (_, Answer::List(_)) => {
            unordered_equal(&alternatives(a), &alternatives(b), answers_equal)
        }
    }
}

/// The members of a list-like answer: list items, set elements, `±` branches.
fn alternatives(answer: &Answer) -> Vec<Answer> {
    match answer {
        Answer::List(items) => items.clone(),
        Answer::Expr(Expr::Set(items)) => items.iter().cloned().map(Answer::Expr).collect(),
        Answer::Expr(e) => expand_plus_minus(e).into_iter().map(Answer::Expr).collect(),
        other => vec![other.clone()],
    }
}

/// Two relations: same symbol and same sides; for `=` also swapped sides or
/// proportional `lhs - rhs` (`2y = 4x + 6` is `y = 2x + 3`).
fn relations_equal(ra: Rel, la: &Answer, xa: &Answer, rb: Rel, lb: &Answer, xb: &Answer) -> bool {
    if ra != rb {
        return false;
    }
    if answers_equal(la, lb) && answers_equal(xa, xb) {
        return true;
    }
    if ra != Rel::Eq {
        return false;
    }
    if answers_equal(la, xb) && answers_equal(xa, lb) {
        return true;
    }
    match (la, xa, lb, xb) {
        (Answer::Expr(l1), Answer::Expr(r1), Answer::Expr(l2), Answer::Expr(r2)) => {
            proportional(&difference(l1, r1), &difference(l2, r2))
        }
        _ => false,
    }
}

/// `a - b`.
fn difference(a: &Expr, b: &Expr) -> Expr {
    Expr::Add(vec![a.clone(), Expr::Neg(Box::new(b.clone()))])
}

/// Whether `a = c·b` for one non-zero constant `c` at every sample point.
fn proportional(a: &Expr, b: &Expr) -> bool {
    let vars = variables(&[a, b]);
    let mut ratio: Option<f64> = None;
    for index in 0..POINTS * 2 {
        let point = float_point(&vars, index);
        let (Some(x), Some(y)) = (eval_f64(a, &point), eval_f64(b, &point)) else {
            return false;
        };
        if x == 0.0 || y == 0.0 {
            if x != y {
                return false;
            }
            continue;
        }
        let r = x / y;
        match ratio {
            None => ratio = Some(r),
            Some(c) if close(c, r) => {}
            Some(_) => return false,
        }
    }
    ratio.is_some()
}

/// Whether two expressions are equivalent (tuples in order with the same
/// brackets, sets in any order, matrices cell by cell, scalars by value).
pub fn exprs_equal(a: &Expr, b: &Expr) -> bool {
    match (a, b) {
        (
            Expr::Tuple {
                open: oa,
                close: ca,
                items: x,
            },
            Expr::Tuple {
                open: ob,
                close: cb,
                items: y,
            },
        ) => oa == ob && ca == cb && ordered_equal(x, y),
        (Expr::Matrix(x), Expr::Matrix(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(rx, ry)| ordered_equal(rx, ry))
        }
        (Expr::Set(_), _) | (_, Expr::Set(_)) => {
            unordered_equal(&set_members(a), &set_members(b), exprs_equal)
        }
        (Expr::Tuple { .. } | Expr::Matrix(_), _) | (_, Expr::Tuple { .. } | Expr::Matrix(_)) => {
            false
        }
        _ => scalars_equal(a, b),
    }
}

/// Members of a set (`±` expanded), or the expression itself.
fn set_members(e: &Expr) -> Vec<Expr> {
    match e {
        Expr::Set(items) => items.iter().flat_map(expand_plus_minus).collect(),
        other => expand_plus_minus(other),
    }
}

fn ordered_equal(x: &[Expr], y: &[Expr]) -> bool {
    x.len() == y.len() && x.len() <= MAX_ITEMS && x.iter().zip(y).all(|(a, b)| exprs_equal(a, b))
}

/// Multiset equality under `eq`: every item of `x` matched to its own item of `y`.
fn unordered_equal<T>(x: &[T], y: &[T], eq: fn(&T, &T) -> bool) -> bool {
    if x.len() != y.len() || x.len() > MAX_UNORDERED_ITEMS {
        return false;
    }
    let mut used = vec![false; y.len()];
    x.iter()
        .all(|a| match (0..y.len()).find(|&j| !used[j] && eq(a, &y[j])) {
            Some(j) => {
                used[j] = true;
                true
            }
            None => false,
        })
}

/// Scalars: `±` answers compare as sets of their branches.
fn scalars_equal(a: &Expr, b: &Expr) -> bool {
    let (xa, xb) = (expand_plus_minus(a), expand_plus_minus(b));
    if xa.len() > 1 || xb.len() > 1 {
        return unordered_equal(&xa, &xb, values_equal);
    }
    values_equal(a, b)
}

/// Same value: exactly at seeded points when both sides have exact values
/// there, else approximately at seeded points, else the same printed form.
pub fn values_equal(a: &Expr, b: &Expr) -> bool {
    let vars = variables(&[a, b]);
    if let Some(verdict) = exact_verdict(a, b, &vars) {
        return verdict;
    }
    if let Some(verdict) = float_verdict(a, b, &vars) {
        return verdict;
    }
    a.to_string() == b.to_string()
}

fn exact_verdict(a: &Expr, b: &Expr, vars: &[String]) -> Option<bool> {
    let points = if vars.is_empty() { 1 } else { POINTS };
    for index in 0..points {
        let point = exact_point(vars, index);
        if eval_exact(a, &point)? != eval_exact(b, &point)? {
            return Some(false);
        }
    }
    Some(true)
}

fn float_verdict(a: &Expr, b: &Expr, vars: &[String]) -> Option<bool> {
    let points = if vars.is_empty() { 1 } else { POINTS * 2 };
    let mut compared = 0;
    for index in 0..points {
        let point = float_point(vars, index);
        if let (Some(x), Some(y)) = (eval_f64(a, &point), eval_f64(b, &point)) {
            if !close(x, y) {
                return Some(false);
            }
            compared += 1;
        }
    }
    (compared > 0).then_some(true)
}

fn close(x: f64, y: f64) -> bool {
    (x - y).abs() <= FLOAT_TOLERANCE * x.abs().max(y.abs()).max(1.0)
}

/// The variable names in `exprs`, sorted.
fn variables(exprs: &[&Expr]) -> Vec<String> {
    let mut names = BTreeSet::new();
    for e in exprs {
        collect_variables(e, &mut names);
    }
    names.into_iter().collect()
}

fn collect_variables(e: &Expr, names: &mut BTreeSet<String>) {
    match e {
        Expr::Var(name) => {
            names.insert(name.clone());
        }
        Expr::Num(_) | Expr::Pi | Expr::Infinity => {}
        Expr::Neg(x) | Expr::Root(_, x) | Expr::Func(_, x) | Expr::Factorial(x) => {
            collect_variables(x, names)
        }
        Expr::Div(x, y) | Expr::Pow(x, y) | Expr::PlusMinus(x, y) => {
            collect_variables(x, names);
            collect_variables(y, names);
        }
        Expr::Add(items) | Expr::Mul(items) | Expr::Set(items) | Expr::Tuple { items, .. } => {
            items.iter().for_each(|x| collect_variables(x, names));
        }
        Expr::Matrix(rows) => rows
            .iter()
            .flatten()
            .for_each(|x| collect_variables(x, names)),
    }
}

/// The branches of an expression with `±`/`∓` (`1 ± √2` → `1 + √2`, `1 - √2`),
/// capped at [`MAX_PM_BRANCHES`]; beyond the cap the expression stays whole.
pub fn expand_plus_minus(e: &Expr) -> Vec<Expr> {
    let branches = branches(e);
    if branches.is_empty() || branches.len() > MAX_PM_BRANCHES {
        vec![e.clone()]
    } else {
        branches
    }
}

/// All sign choices of the `±` in `e` (empty when there are too many).
fn branches(e: &Expr) -> Vec<Expr> {
    match e {
        Expr::PlusMinus(a, b) => {
            let mut out = Vec::new();
            for x in branches(a) {
                for y in branches(b) {
                    out.push(Expr::Add(vec![x.clone(), y.clone()]));
                    out.push(Expr::Add(vec![x.clone(), Expr::Neg(Box::new(y))]));
                }
            }
            if out.len() > MAX_PM_BRANCHES {
                return Vec::new();
            }
            out
        }
        Expr::Neg(x) => branches(x)
            .into_iter()
            .map(|x| Expr::Neg(Box::new(x)))
            .collect(),
        Expr::Add(items) | Expr::Mul(items) => {
            let is_add = matches!(e, Expr::Add(_));
            let mut out: Vec<Vec<Expr>> = vec![Vec::new()];
            for item in items {
                let options = branches(item);
                if options.is_empty() || out.len() * options.len() > MAX_PM_BRANCHES {
                    return Vec::new();
                }
                out = out
                    .into_iter()
                    .flat_map(|prefix| {
                        options.iter().map(move |o| {
                            let mut next = prefix.clone();
                            next.push(o.clone());
                            next
                        })
                    })
                    .collect();
            }
            out.into_iter()
                .map(|v| if is_add { Expr::Add(v) } else { Expr::Mul(v) })
                .collect()
        }
        Expr::Div(x, y) => pair_branches(x, y, |a, b| Expr::Div(Box::new(a), Box::new(b))),
        other => vec![other.clone()],
    }
}

fn pair_branches(x: &Expr, y: &Expr, build: fn(Expr, Expr) -> Expr) -> Vec<Expr> {
    let (bx, by) = (branches(x), branches(y));
    if bx.is_empty() || by.is_empty() || bx.len() * by.len() > MAX_PM_BRANCHES {
        return Vec::new();
    }
    bx.iter()
        .flat_map(|a| by.iter().map(move |b| build(a.clone(), b.clone())))
        .collect()
}
