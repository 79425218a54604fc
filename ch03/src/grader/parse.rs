//! Tokens to an [`Answer`]: a recursive-descent parser for the LaTeX found in
//! MATH answers, with a nesting cap.

use super::expr::{Answer, Expr, Rel};
use super::lexer::{tokenize, Tok, Token, FUNCTIONS, TEXT_COMMANDS};
use super::limits::{MAX_DEPTH, MAX_DIGITS, MAX_EXPONENT, MAX_PARSE_BYTES};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Pow, Zero};
use std::fmt;

/// Why an answer could not be parsed (the grader then compares strings).
#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    /// Nothing to parse.
    Empty,
    /// Longer than the parse cap, or a number too long.
    TooLong,
    /// Nested deeper than the parse cap.
    TooDeep,
    /// A character that has no meaning in an answer.
    UnexpectedChar(char),
    /// A command we do not know (e.g. `\cotx`).
    UnknownCommand(String),
    /// The answer stops in the middle of a construct.
    UnexpectedEnd,
    /// A token where it cannot stand.
    Unexpected(String),
    /// A construct missing a required part.
    Malformed(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty answer"),
            ParseError::TooLong => f.write_str("answer or number too long"),
            ParseError::TooDeep => f.write_str("nested too deeply"),
            ParseError::UnexpectedChar(c) => write!(f, "unexpected character {c:?}"),
            ParseError::UnknownCommand(c) => write!(f, "unknown command \\{c}"),
            ParseError::UnexpectedEnd => f.write_str("unexpected end"),
            ParseError::Unexpected(t) => write!(f, "unexpected {t}"),
            ParseError::Malformed(what) => write!(f, "malformed {what}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses an (already extracted) answer: `\frac{1}{2}`, `(1, 2]`,
/// `x = 3`, `\begin{pmatrix}…\end{pmatrix}`, `\text{east}`, …
///
/// Units written as trailing words (`5 \text{ cm}^2`) and degree marks are
/// dropped; a leading multiple-choice label (`c. 3`) is stripped as the book does.
pub fn parse_answer(text: &str) -> Result<Answer, ParseError> {
    if text.len() > MAX_PARSE_BYTES {
        return Err(ParseError::TooLong);
    }
    let text = unwrap_text_command(strip_choice_label(text.trim()));
    let mut tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(ParseError::Empty);
    }
    if let Some(words) = text_answer(&tokens) {
        return Ok(Answer::Text(words));
    }
    drop_unit_words(&mut tokens);
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let answer = parser.list()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(answer),
        Some(t) => Err(ParseError::Unexpected(format!("{:?}", t.tok))),
    }
}

/// `c. 3` → `3`, `b: 2` → `2` (the book's multiple-choice label rule).
fn strip_choice_label(text: &str) -> &str {
    let mut chars = text.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return text;
    }
    let rest = text[1..].trim_start();
    match rest.strip_prefix(['.', ':']).map(str::trim_start) {
        Some(answer) if !answer.is_empty() => answer,
        _ => text,
    }
}

/// `\text{(0,9) \cup (9,36)}` → `(0,9) \cup (9,36)`: a text command around
/// the whole answer (the book unwraps `\text{…}` the same way).
fn unwrap_text_command(text: &str) -> &str {
    let mut text = text;
    while let Some(inner) = TEXT_COMMANDS.iter().find_map(|cmd| {
        let body = text
            .strip_prefix('\\')?
            .strip_prefix(cmd)?
            .trim_start()
            .strip_prefix('{')?;
        let inner = body.strip_suffix('}')?;
        braces_balanced(inner).then_some(inner.trim())
    }) {
        text = inner;
    }
    text
}

/// Whether every `{` in `text` closes, in order.
fn braces_balanced(text: &str) -> bool {
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return false,
            '}' => depth -= 1,
            _ => {}
        }
    }
    depth == 0
}

/// An answer made only of words (at least one of them longer than a letter).
fn text_answer(tokens: &[Token]) -> Option<String> {
    let mut words = Vec::new();
    let mut has_word = false;
    for t in tokens {
        match &t.tok {
            Tok::Word(w) => {
                has_word = true;
                words.push(w.clone());
            }
            Tok::Letter(c) => words.push(c.to_string()),
            _ => return None,
        }
    }
    has_word.then(|| words.join(" "))
}

/// Drops trailing unit words (`cm`, `inches^2`, `degrees`) after a math part.
fn drop_unit_words(tokens: &mut Vec<Token>) {
    let is_unit_part = |t: &Tok| {
        matches!(
            t,
            Tok::Word(_) | Tok::Sym('^' | '{' | '}') | Tok::Num { .. }
        )
    };
    let mut start = tokens.len();
    while start > 0 && is_unit_part(&tokens[start - 1].tok) {
        start -= 1;
    }
    while start < tokens.len() && !matches!(tokens[start].tok, Tok::Word(_)) {
        start += 1;
    }
    if start > 0 && start < tokens.len() {
        tokens.truncate(start);
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// A token that can start a factor of an implicit product (`2x`, `3\sqrt2`, `2(1+x)`).
fn starts_factor(tok: &Tok) -> bool {
    match tok {
        Tok::Num { .. } | Tok::Letter(_) | Tok::Begin(_) => true,
        Tok::Sym(c) => matches!(c, '(' | '{'),
        Tok::Cmd(name) => !matches!(
            name.as_str(),
            "cup" | "pm" | "mp" | "le" | "ge" | "ne" | "in" | "circ" | "approx" | "to"
        ),
        _ => false,
    }
}

/// Reads a number literal exactly.
fn number_value(digits: &str, exp10: i64) -> Result<BigRational, ParseError> {
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let all: String = format!("{int_part}{frac_part}");
    let mantissa: BigInt = if all.is_empty() {
        BigInt::zero()
    } else {
        all.parse().map_err(|_| ParseError::TooLong)?
    };
    let scale = exp10 - frac_part.len() as i64;
    if scale.unsigned_abs() > MAX_DIGITS as u64 {
        return Err(ParseError::TooLong);
    }
    let power = BigInt::from(10).pow(scale.unsigned_abs() as u32);
    Ok(if scale >= 0 {
        BigRational::from_integer(mantissa * power)
    } else {
        BigRational::new(mantissa, power)
    })
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.pos + offset)
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        let tok = self.peek().cloned().ok_or(ParseError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(tok)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == Some(tok) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), ParseError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(ParseError::Unexpected(format!(
                "{:?}, expected {tok:?}",
                self.peek()
            )))
        }
    }

    /// Runs `f` one nesting level deeper, failing beyond [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// `relation (, relation)*`: a bare list when there are several.
    fn list(&mut self) -> Result<Answer, ParseError> {
        let mut items = vec![self.relation()?];
        while self.eat(&Tok::Sym(',')) {
            items.push(self.relation()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Answer::List(items)
        })
    }

    fn relation_symbol(&self) -> Option<Rel> {
        match self.peek()? {
            Tok::Sym('=') => Some(Rel::Eq),
            Tok::Sym('<') => Some(Rel::Lt),
            Tok::Sym('>') => Some(Rel::Gt),
            Tok::Cmd(name) => match name.as_str() {
                "in" => Some(Rel::In),
                "le" => Some(Rel::Le),
                "ge" => Some(Rel::Ge),
                "ne" => Some(Rel::Ne),
                "approx" => Some(Rel::Eq),
                _ => None,
            },
            _ => None,
        }
    }

    /// `union (rel union)?`.
    fn relation(&mut self) -> Result<Answer, ParseError> {
        let lhs = self.union()?;
        let Some(rel) = self.relation_symbol() else {
            return Ok(lhs);
        };
        self.pos += 1;
        let rhs = self.union()?;
        Ok(Answer::Relation {
            rel,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        })
    }

    /// `sum (\cup sum)*`.
    fn union(&mut self) -> Result<Answer, ParseError> {
        let mut parts = vec![self.sum()?];
        while self.eat(&Tok::Cmd("cup".into())) {
            parts.push(self.sum()?);
        }
        Ok(if parts.len() == 1 {
            Answer::Expr(parts.remove(0))
        } else {
            Answer::Union(parts)
        })
    }

    /// Terms joined by `+`, `-`, `\pm`, `\mp`.
    fn sum(&mut self) -> Result<Expr, ParseError> {
        self.nested(|p| {
            let mut acc = match p.peek() {
                Some(Tok::Cmd(c)) if c == "pm" || c == "mp" => {
                    p.pos += 1;
                    Expr::PlusMinus(
                        Box::new(Expr::Num(BigRational::zero())),
                        Box::new(p.term()?),
                    )
                }
                _ => p.term()?,
            };
            loop {
                match p.peek() {
                    Some(Tok::Sym('+')) => {
                        p.pos += 1;
                        acc = add(acc, p.term()?);
                    }
                    Some(Tok::Sym('-')) => {
                        p.pos += 1;
                        acc = add(acc, Expr::Neg(Box::new(p.term()?)));
                    }
                    Some(Tok::Cmd(c)) if c == "pm" || c == "mp" => {
                        p.pos += 1;
                        acc = Expr::PlusMinus(Box::new(acc), Box::new(p.term()?));
                    }
                    _ => return Ok(acc),
                }
            }
        })
    }

    /// Factors joined by `*`, `/` or juxtaposition.
    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut acc = self.signed()?;
        loop {
            match self.peek() {
                Some(Tok::Sym('*')) => {
                    self.pos += 1;
                    acc = mul(acc, self.signed()?);
                }
                Some(Tok::Sym('/')) => {
                    self.pos += 1;
                    acc = Expr::Div(Box::new(acc), Box::new(self.signed()?));
                }
                Some(tok) if starts_factor(tok) => acc = mul(acc, self.power()?),
                _ => return Ok(acc),
            }
        }
    }

    /// A factor with optional leading signs.
    fn signed(&mut self) -> Result<Expr, ParseError> {
        self.nested(|p| match p.peek() {
            Some(Tok::Sym('-')) => {
                p.pos += 1;
                Ok(Expr::Neg(Box::new(p.signed()?)))
            }
            Some(Tok::Sym('+')) => {
                p.pos += 1;
                p.signed()
            }
            _ => p.power(),
        })
    }

    /// `postfix (^ exponent)?`; `^\circ` (degrees) is dropped.
    fn power(&mut self) -> Result<Expr, ParseError> {
        let base = self.postfix()?;
        if !self.eat(&Tok::Sym('^')) {
            return Ok(base);
        }
        if self.degree_mark() {
            return Ok(base);
        }
        let exponent = self.exponent()?;
        Ok(Expr::Pow(Box::new(base), Box::new(exponent)))
    }

    /// Consumes `\circ` or `{\circ}` after `^`.
    fn degree_mark(&mut self) -> bool {
        let circ = Tok::Cmd("circ".into());
        if self.eat(&circ) {
            return true;
        }
        let braced = self.peek() == Some(&Tok::Sym('{'))
            && self.peek_at(1).map(|t| &t.tok) == Some(&circ)
            && self.peek_at(2).map(|t| &t.tok) == Some(&Tok::Sym('}'));
        if braced {
            self.pos += 3;
        }
        braced
    }

    /// An exponent: a braced group, or one token (a whole number is taken whole).
    fn exponent(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some(Tok::Sym('-')) => {
                self.pos += 1;
                Ok(Expr::Neg(Box::new(self.exponent()?)))
            }
            _ => self.nested(|p| p.primary()),
        }
    }

    /// A primary with trailing `!` and subscripts.
    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut expr = self.primary()?;
        loop {
            if self.eat(&Tok::Sym('!')) {
                expr = Expr::Factorial(Box::new(expr));
            } else if self.eat(&Tok::Sym('_')) {
                let sub = self.nested(|p| p.primary())?;
                expr = match expr {
                    Expr::Var(name) => Expr::Var(format!("{name}_{sub}")),
                    // A base annotation such as 4210_{5}: the digits are the answer.
                    other => other,
                };
            } else if self.eat(&Tok::Sym('\'')) {
                expr = match expr {
                    Expr::Var(name) => Expr::Var(format!("{name}'")),
                    _ => return Err(ParseError::Malformed("prime")),
                };
            } else {
                return Ok(expr);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.nested(|p| match p.next()? {
            Tok::Num { digits, exp10 } => p.number(&digits, exp10),
            Tok::Letter(c) => Ok(Expr::Var(c.to_string())),
            Tok::Sym(open @ ('(' | '[')) => p.bracketed(open),
            Tok::Sym('{') => p.braced(),
            Tok::SetOpen => p.set(),
            Tok::Sym('|') => {
                let inner = p.sum()?;
                p.expect(&Tok::Sym('|'))?;
                Ok(Expr::Func("abs".into(), Box::new(inner)))
            }
            Tok::Begin(env) => p.matrix(&env),
            Tok::Cmd(name) => p.command(&name),
            other => Err(ParseError::Unexpected(format!("{other:?}"))),
        })
    }

    /// A number, joined with a following fraction into a mixed number
    /// (`2\frac{1}{2}`, `2 1/2`).
    fn number(&mut self, digits: &str, exp10: i64) -> Result<Expr, ParseError> {
        let value = number_value(digits, exp10)?;
        let whole = Expr::Num(value.clone());
        if !value.is_integer() || digits.contains('.') {
            return Ok(whole);
        }
        if let Some(frac) = self.mixed_fraction() {
            return Ok(Expr::Num(value + frac));
        }
        Ok(whole)
    }

    /// The fraction part of a mixed number, if one follows: `\frac{1}{2}`,
    /// `\frac12` or ` 1/2` with literal integers, numerator below denominator.
    fn mixed_fraction(&mut self) -> Option<BigRational> {
        let (num, den, len) = self.frac_literal().or_else(|| self.slash_literal())?;
        if num.is_zero() || num >= den {
            return None;
        }
        self.pos += len;
        Some(BigRational::new(num, den))
    }

    /// The integer literal at `offset`, if any.
    fn integer_at(&self, offset: usize) -> Option<(String, bool)> {
        match self.peek_at(offset) {
            Some(Token {
                tok: Tok::Num { digits, exp10: 0 },
                spaced,
            }) if !digits.contains('.') => Some((digits.clone(), *spaced)),
            _ => None,
        }
    }

    /// `\frac{n}{d}`, `\frac n d` or `\frac nd` with integer literals: (n, d, tokens).
    fn frac_literal(&self) -> Option<(BigInt, BigInt, usize)> {
        if self.peek() != Some(&Tok::Cmd("frac".into())) {
            return None;
        }
        let braced = |offset: usize| -> Option<String> {
            let open = self.peek_at(offset).map(|t| &t.tok) == Some(&Tok::Sym('{'));
            let close = self.peek_at(offset + 2).map(|t| &t.tok) == Some(&Tok::Sym('}'));
            if open && close {
                self.integer_at(offset + 1).map(|(d, _)| d)
            } else {
                None
            }
        };
        let parse = |d: &str| d.parse::<BigInt>().ok();
        if let (Some(n), Some(d)) = (braced(1), braced(4)) {
            return Some((parse(&n)?, parse(&d)?, 7));
        }
        match self.integer_at(1) {
            Some((two, _)) if two.len() == 2 => Some((parse(&two[..1])?, parse(&two[1..])?, 2)),
            Some((n, _)) if n.len() == 1 => {
                let (d, _) = self.integer_at(2).filter(|(d, _)| d.len() == 1)?;
                Some((parse(&n)?, parse(&d)?, 3))
            }
            _ => None,
        }
    }

    /// ` n/d` after a whole number (`2 1/2`): (n, d, tokens).
    fn slash_literal(&self) -> Option<(BigInt, BigInt, usize)> {
        let (n, spaced) = self.integer_at(0)?;
        let slash = self.peek_at(1).map(|t| &t.tok) == Some(&Tok::Sym('/'));
        let (d, _) = self.integer_at(2)?;
        let ends = !matches!(
            self.peek_at(3).map(|t| &t.tok),
            Some(Tok::Sym('^' | '!' | '_'))
        );
        (spaced && slash && ends).then_some((n.parse().ok()?, d.parse().ok()?, 3))
    }

    /// `( … )` or `[ … ]`: a parenthesized expression, or a tuple/interval
    /// when it holds commas (the closing bracket may differ: `(a, b]`).
    fn bracketed(&mut self, open: char) -> Result<Expr, ParseError> {
        let mut items = vec![self.sum()?];
        while self.eat(&Tok::Sym(',')) {
            items.push(self.sum()?);
        }
        let close = match self.next()? {
            Tok::Sym(c @ (')' | ']')) => c,
            other => {
                return Err(ParseError::Unexpected(format!(
                    "{other:?}, expected ) or ]"
                )))
            }
        };
        if items.len() == 1 {
            return Ok(items.remove(0));
        }
        Ok(Expr::Tuple { open, close, items })
    }

    /// `{ … }`: a LaTeX group (several comma items read as a set).
    fn braced(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.sum()?];
        while self.eat(&Tok::Sym(',')) {
            items.push(self.sum()?);
        }
        self.expect(&Tok::Sym('}'))?;
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Set(items)
        })
    }

    /// `\{ a, b \}`.
    fn set(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.sum()?];
        while self.eat(&Tok::Sym(',')) {
            items.push(self.sum()?);
        }
        self.expect(&Tok::SetClose)?;
        Ok(Expr::Set(items))
    }

    /// `\begin{pmatrix} a & b \\ c & d \end{pmatrix}` (also bmatrix, matrix, …).
    fn matrix(&mut self, env: &str) -> Result<Expr, ParseError> {
        if !env.ends_with("matrix") {
            return Err(ParseError::Unexpected(format!("environment {env}")));
        }
        let mut rows = vec![vec![self.sum()?]];
        loop {
            match self.next()? {
                Tok::Sym('&') => rows
                    .last_mut()
                    .expect("rows start non-empty")
                    .push(self.sum()?),
                Tok::RowSep if self.peek() == Some(&Tok::End(env.to_string())) => {}
                Tok::RowSep => rows.push(vec![self.sum()?]),
                Tok::End(name) if name == env => break,
                other => return Err(ParseError::Unexpected(format!("{other:?} in matrix"))),
            }
        }
        Ok(Expr::Matrix(rows))
    }

    /// A `\frac`/`\sqrt` argument: a braced group or a single token
    /// (`\frac12` is 1/2: one digit of a number is taken).
    fn argument(&mut self) -> Result<Expr, ParseError> {
        if let Some(Tok::Num { digits, exp10: 0 }) = self.peek() {
            if digits.len() > 1 && digits.is_char_boundary(1) {
                let (head, rest) = digits.split_at(1);
                let (head, rest) = (head.to_string(), rest.to_string());
                if head != "." {
                    self.tokens[self.pos].tok = Tok::Num {
                        digits: rest,
                        exp10: 0,
                    };
                    self.tokens[self.pos].spaced = false;
                    return Ok(Expr::Num(number_value(&head, 0)?));
                }
            }
        }
        self.nested(|p| p.primary())
    }

    fn command(&mut self, name: &str) -> Result<Expr, ParseError> {
        match name {
            "frac" => {
                let num = self.argument()?;
                let den = self.argument()?;
                Ok(Expr::Div(Box::new(num), Box::new(den)))
            }
            "sqrt" => {
                let index = if self.eat(&Tok::Sym('[')) {
                    let n = self.root_index()?;
                    self.expect(&Tok::Sym(']'))?;
                    n
                } else {
                    2
                };
                Ok(Expr::Root(index, Box::new(self.argument()?)))
            }
            "pi" => Ok(Expr::Pi),
            "infty" => Ok(Expr::Infinity),
            _ if FUNCTIONS.contains(&name) => self.function(name),
            _ if is_greek(name) => Ok(Expr::Var(name.to_string())),
            _ => Err(ParseError::UnknownCommand(name.to_string())),
        }
    }

    /// The `n` of `\sqrt[n]{…}`.
    fn root_index(&mut self) -> Result<u32, ParseError> {
        match self.next()? {
            Tok::Num { digits, exp10: 0 } => digits
                .parse::<u32>()
                .ok()
                .filter(|n| (2..=MAX_EXPONENT).contains(n))
                .ok_or(ParseError::Malformed("root index")),
            _ => Err(ParseError::Malformed("root index")),
        }
    }

    /// `\sin x`, `\sin(x)`, `\sin^2 x`, `\log_2 8` (as ln 8 / ln 2).
    fn function(&mut self, name: &str) -> Result<Expr, ParseError> {
        let base = if self.eat(&Tok::Sym('_')) {
            Some(self.argument()?)
        } else {
            None
        };
        let power = if self.eat(&Tok::Sym('^')) {
            Some(self.exponent()?)
        } else {
            None
        };
        let arg = self.power()?;
        let value = match base {
            Some(b) => Expr::Div(
                Box::new(Expr::Func("ln".into(), Box::new(arg))),
                Box::new(Expr::Func("ln".into(), Box::new(b))),
            ),
            None => Expr::Func(name.to_string(), Box::new(arg)),
        };
        Ok(match power {
            Some(p) => Expr::Pow(Box::new(value), Box::new(p)),
            None => value,
        })
    }
}

/// Greek letters, read as variables.
fn is_greek(name: &str) -> bool {
    const GREEK: &[&str] = &[
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "varepsilon",
        "zeta",
        "eta",
        "theta",
        "vartheta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "rho",
        "sigma",
        "tau",
        "phi",
        "varphi",
        "chi",
        "psi",
        "omega",
        "Gamma",
        "Delta",
        "Theta",
        "Lambda",
        "Sigma",
        "Phi",
        "Psi",
        "Omega",
    ];
    GREEK.contains(&name)
}

/// `a + b`, flattening sums.
fn add(a: Expr, b: Expr) -> Expr {
    match a {
        Expr::Add(mut terms) => {
            terms.push(b);
            Expr::Add(terms)
        }
        a => Expr::Add(vec![a, b]),
    }
}

/// `a · b`, flattening products.
fn mul(a: Expr, b: Expr) -> Expr {
    match a {
        Expr::Mul(mut factors) => {
            factors.push(b);
            Expr::Mul(factors)
        }
        a => Expr::Mul(vec![a, b]),
    }
}
