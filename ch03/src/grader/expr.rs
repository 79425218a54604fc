//! The parsed form of an answer: an expression tree ([`Expr`]) inside an
//! answer shape ([`Answer`]: a list, a union of intervals, a relation, text).

use num_rational::BigRational;
use std::fmt;

/// A mathematical expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// An exact number (decimals are read exactly: `0.5` is 1/2).
    Num(BigRational),
    /// A variable (lowercased; `x_1` keeps its subscript).
    Var(String),
    /// π.
    Pi,
    /// ∞.
    Infinity,
    /// `-x`.
    Neg(Box<Expr>),
    /// A sum.
    Add(Vec<Expr>),
    /// A product (explicit or implicit: `2x`, `3\sqrt{2}`).
    Mul(Vec<Expr>),
    /// `a / b`, `\frac{a}{b}`.
    Div(Box<Expr>, Box<Expr>),
    /// `a ^ b`.
    Pow(Box<Expr>, Box<Expr>),
    /// `\sqrt[n]{x}` (`n` = 2 for `\sqrt{x}`).
    Root(u32, Box<Expr>),
    /// A named function: `sin`, `ln`, `abs`, …
    Func(String, Box<Expr>),
    /// `n!`.
    Factorial(Box<Expr>),
    /// `a ± b` (two answers in one).
    PlusMinus(Box<Expr>, Box<Expr>),
    /// A bracketed tuple or interval with its bracket kinds: `(1, 2)`, `(a, b]`.
    Tuple {
        /// Opening bracket: `(` or `[`.
        open: char,
        /// Closing bracket: `)` or `]`.
        close: char,
        /// The items, in order.
        items: Vec<Expr>,
    },
    /// `\{a, b\}` (order does not matter).
    Set(Vec<Expr>),
    /// A matrix or vector, row by row.
    Matrix(Vec<Vec<Expr>>),
}

/// A relation symbol between two sides of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
    /// `=`.
    Eq,
    /// `\in`.
    In,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `\le`.
    Le,
    /// `\ge`.
    Ge,
    /// `\ne`.
    Ne,
}

/// A whole parsed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// One expression (a number, a formula, a tuple, a set, a matrix).
    Expr(Expr),
    /// Comma-separated answers without brackets: `3, 5, 7` (order does not matter).
    List(Vec<Answer>),
    /// `A \cup B \cup …`.
    Union(Vec<Expr>),
    /// `lhs = rhs`, `x \in [a, b]`, …
    Relation {
        /// The relation.
        rel: Rel,
        /// Left side.
        lhs: Box<Answer>,
        /// Right side.
        rhs: Box<Answer>,
    },
    /// Plain text (names, words), lowercased, words separated by one space.
    Text(String),
}

impl Rel {
    /// The symbol as printed.
    pub fn symbol(self) -> &'static str {
        match self {
            Rel::Eq => "=",
            Rel::In => "∈",
            Rel::Lt => "<",
            Rel::Gt => ">",
            Rel::Le => "≤",
            Rel::Ge => "≥",
            Rel::Ne => "≠",
        }
    }
}

/// Binding strength, for printing parentheses only where needed.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Add(_) | Expr::PlusMinus(..) => 1,
        Expr::Mul(_) | Expr::Div(..) | Expr::Neg(_) => 2,
        Expr::Num(r) if !r.is_integer() || r < &BigRational::from_integer(0.into()) => 2,
        Expr::Pow(..) => 3,
        _ => 4,
    }
}

/// Writes `expr`, in parentheses when it binds weaker than `min`.
fn write_at(f: &mut fmt::Formatter<'_>, expr: &Expr, min: u8) -> fmt::Result {
    if precedence(expr) < min {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}

/// Writes `items` separated by `sep`.
fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    sep: &str,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(r) => write!(f, "{r}"),
            Expr::Var(name) => f.write_str(name),
            Expr::Pi => f.write_str("π"),
            Expr::Infinity => f.write_str("∞"),
            Expr::Neg(x) => {
                f.write_str("-")?;
                write_at(f, x, 3)
            }
            Expr::Add(terms) => {
                for (i, term) in terms.iter().enumerate() {
                    match (i, term) {
                        (0, _) => write_at(f, term, 1)?,
                        (_, Expr::Neg(x)) => {
                            f.write_str(" - ")?;
                            write_at(f, x, 2)?;
                        }
                        _ => {
                            f.write_str(" + ")?;
                            write_at(f, term, 2)?;
                        }
                    }
                }
                Ok(())
            }
            Expr::Mul(factors) => {
                for (i, factor) in factors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("·")?;
                    }
                    write_at(f, factor, 3)?;
                }
                Ok(())
            }
            Expr::Div(a, b) => {
                write_at(f, a, 2)?;
                f.write_str("/")?;
                write_at(f, b, 3)
            }
            Expr::Pow(a, b) => {
                write_at(f, a, 4)?;
                f.write_str("^")?;
                write_at(f, b, 4)
            }
            Expr::Root(2, x) => write!(f, "√({x})"),
            Expr::Root(n, x) => write!(f, "root{n}({x})"),
            Expr::Func(name, x) => write!(f, "{name}({x})"),
            Expr::Factorial(x) => {
                write_at(f, x, 4)?;
                f.write_str("!")
            }
            Expr::PlusMinus(a, b) => {
                write_at(f, a, 1)?;
                f.write_str(" ± ")?;
                write_at(f, b, 2)
            }
            Expr::Tuple { open, close, items } => {
                write!(f, "{open}")?;
                write_joined(f, items, ", ")?;
                write!(f, "{close}")
            }
            Expr::Set(items) => {
                f.write_str("{")?;
                write_joined(f, items, ", ")?;
                f.write_str("}")
            }
            Expr::Matrix(rows) => {
                f.write_str("[")?;
                for (i, row) in rows.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write_joined(f, row, ", ")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Expr(e) => write!(f, "{e}"),
            Answer::List(items) => write_joined(f, items, ", "),
            Answer::Union(parts) => write_joined(f, parts, " ∪ "),
            Answer::Relation { rel, lhs, rhs } => write!(f, "{lhs} {} {rhs}", rel.symbol()),
            Answer::Text(t) => write!(f, "text \"{t}\""),
        }
    }
}
