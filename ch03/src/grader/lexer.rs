//! LaTeX-ish answer text to tokens: numbers (thousands separators and
//! decimals resolved), single-letter variables, text words, commands and
//! symbols. Formatting-only commands (`\left`, `\,`, `\$`, `%`, …) vanish here.

use super::limits::{MAX_DIGITS, MAX_PARSE_BYTES};
use super::normalize::superscript_value;
use super::parse::ParseError;

/// One token of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A number literal: digits with an optional decimal point, and a power-of-ten exponent.
    Num { digits: String, exp10: i64 },
    /// A one-letter variable (lowercased).
    Letter(char),
    /// A text word (three or more letters, or the content of `\text{…}`), lowercased.
    Word(String),
    /// A command such as `frac`, `sqrt`, `pi`, `cup`, `pm`, `sin` (aliases resolved).
    Cmd(String),
    /// `\begin{name}`.
    Begin(String),
    /// `\end{name}`.
    End(String),
    /// `\{`.
    SetOpen,
    /// `\}`.
    SetClose,
    /// `\\` (a matrix row break).
    RowSep,
    /// A single symbol: `+ - * / ^ _ ( ) [ ] { } , = & | ! < >`.
    Sym(char),
}

/// A token and whether whitespace came before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Whitespace directly before it.
    pub spaced: bool,
}

/// Commands that only format and carry no meaning for grading.
const IGNORED: &[&str] = &[
    "left",
    "right",
    "big",
    "bigl",
    "bigr",
    "Big",
    "Bigl",
    "Bigr",
    "bigg",
    "biggl",
    "biggr",
    "displaystyle",
    "textstyle",
    "quad",
    "qquad",
    "degree",
    "limits",
    "mathit",
    "boldsymbol",
];
/// Commands whose braced argument is text (units, names, choice letters).
pub const TEXT_COMMANDS: &[&str] = &[
    "text",
    "mbox",
    "mathrm",
    "textbf",
    "textit",
    "mathbf",
    "textrm",
    "operatorname",
    "textnormal",
];
/// Function names also recognised without a backslash (`sqrt(2)`, `sin x`).
pub const FUNCTIONS: &[&str] = &[
    "sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "ln", "log", "exp", "arcsin", "arccos",
    "arctan", "sinh", "cosh", "tanh",
];

/// Splits `text` into tokens.
pub fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    if text.len() > MAX_PARSE_BYTES {
        return Err(ParseError::TooLong);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut lexer = Lexer {
        chars,
        pos: 0,
        out: Vec::new(),
        spaced: false,
        depth: 0,
    };
    lexer.run()?;
    Ok(lexer.out)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    out: Vec<Token>,
    spaced: bool,
    /// Open `(`, `[` and `\{` groups: plain thousands commas are only read outside them.
    depth: usize,
}

impl Lexer {
    fn run(&mut self) -> Result<(), ParseError> {
        while let Some(&c) = self.chars.get(self.pos) {
            if c.is_whitespace() || c == '~' {
                self.pos += 1;
                self.spaced = true;
                continue;
            }
            match c {
                '\\' => self.command()?,
                '0'..='9' | '.' if self.number_starts_here() => self.number()?,
                'a'..='z' | 'A'..='Z' => self.letters(),
                '$' | '%' | '°' => self.pos += 1,
                '.' => {
                    self.pos += 1;
                    self.spaced = true;
                }
                _ => self.symbol(c)?,
            }
        }
        Ok(())
    }

    fn push(&mut self, tok: Tok) {
        self.out.push(Token {
            tok,
            spaced: self.spaced,
        });
        self.spaced = false;
    }

    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn number_starts_here(&self) -> bool {
        self.peek(0).is_some_and(|c| c.is_ascii_digit())
            || self.peek(1).is_some_and(|c| c.is_ascii_digit())
    }

    fn symbol(&mut self, c: char) -> Result<(), ParseError> {
        self.pos += 1;
        let sym = match c {
            '×' | '·' | '⋅' | '∗' => '*',
            '−' | '–' | '—' => '-',
            '÷' => '/',
            '*' if self.peek(0) == Some('*') => {
                self.pos += 1;
                '^'
            }
            '(' | '[' => {
                self.depth += 1;
                c
            }
            ')' | ']' => {
                self.depth = self.depth.saturating_sub(1);
                c
            }
            '+' | '-' | '*' | '/' | '^' | '_' | '{' | '}' | ',' | '=' | '&' | '|' | '!' | '<'
            | '>' | ':' | ';' | '\'' => c,
            'π' => return self.cmd("pi"),
            '∞' => return self.cmd("infty"),
            '√' => return self.cmd("sqrt"),
            '±' => return self.cmd("pm"),
            '∓' => return self.cmd("mp"),
            '≤' => return self.cmd("le"),
            '≥' => return self.cmd("ge"),
            '≠' => return self.cmd("ne"),
            '∪' => return self.cmd("cup"),
            '∈' => return self.cmd("in"),
            _ if superscript_value(c).is_some() => return self.superscript(),
            _ => return Err(ParseError::UnexpectedChar(c)),
        };
        self.push(Tok::Sym(sym));
        Ok(())
    }

    fn cmd(&mut self, name: &str) -> Result<(), ParseError> {
        self.push(Tok::Cmd(name.to_string()));
        Ok(())
    }

    /// A run of unicode superscripts becomes `^{…}`.
    fn superscript(&mut self) -> Result<(), ParseError> {
        self.pos -= 1;
        let mut run = String::new();
        while let Some(v) = self.peek(0).and_then(superscript_value) {
            run.push(v);
            self.pos += 1;
        }
        self.push(Tok::Sym('^'));
        self.push(Tok::Sym('{'));
        let inner = tokenize(&run)?;
        self.out.extend(inner);
        self.push(Tok::Sym('}'));
        Ok(())
    }

    fn letters(&mut self) {
        let start = self.pos;
        while self.peek(0).is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .to_lowercase();
        if word == "pi" || FUNCTIONS.contains(&word.as_str()) {
            self.push(Tok::Cmd(word));
        } else if word.len() >= 3 {
            self.push(Tok::Word(word));
        } else {
            for c in word.chars() {
                self.push(Tok::Letter(c));
            }
        }
    }

    fn digit_run(&mut self) -> String {
        let start = self.pos;
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn number(&mut self) -> Result<(), ParseError> {
        let mut digits = self.digit_run();
        if digits.len() <= 3 {
            while let Some(skip) = self.thousands_separator_len() {
                self.pos += skip;
                digits.push_str(&self.digit_run());
            }
        }
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            digits.push('.');
            digits.push_str(&self.digit_run());
        }
        let exp10 = self.scientific_exponent()?;
        if digits.len() > MAX_DIGITS {
            return Err(ParseError::TooLong);
        }
        self.push(Tok::Num { digits, exp10 });
        Ok(())
    }

    /// The length of a thousands separator (`,`, `,\!`, `{,}`) before exactly three digits.
    fn thousands_separator_len(&self) -> Option<usize> {
        let text: String = self.chars[self.pos..].iter().take(8).collect();
        let explicit_separator = [",\\!", ",\\,", "{,}"].iter().any(|s| text.starts_with(s));
        let (len, explicit) = if explicit_separator {
            (3, true)
        } else if text.starts_with(',') {
            (1, false)
        } else {
            return None;
        };
        if !explicit && self.depth > 0 {
            return None;
        }
        let mut skip = len;
        while explicit && self.peek(skip).is_some_and(char::is_whitespace) {
            skip += 1;
        }
        let three = (0..3).all(|k| self.peek(skip + k).is_some_and(|c| c.is_ascii_digit()));
        let fourth = self.peek(skip + 3).is_some_and(|c| c.is_ascii_digit());
        (three && !fourth).then_some(skip)
    }

    /// `e5`, `E-3` directly after a number.
    fn scientific_exponent(&mut self) -> Result<i64, ParseError> {
        if !matches!(self.peek(0), Some('e' | 'E')) {
            return Ok(0);
        }
        let sign_len = usize::from(matches!(self.peek(1), Some('+' | '-')));
        if !self.peek(1 + sign_len).is_some_and(|c| c.is_ascii_digit()) {
            return Ok(0);
        }
        let negative = self.peek(1) == Some('-');
        self.pos += 1 + sign_len;
        let run = self.digit_run();
        let value: i64 = run.parse().map_err(|_| ParseError::TooLong)?;
        Ok(if negative { -value } else { value })
    }

    fn command(&mut self) -> Result<(), ParseError> {
        self.pos += 1;
        let Some(c) = self.peek(0) else {
            return Err(ParseError::UnexpectedEnd);
        };
        if !c.is_ascii_alphabetic() {
            self.pos += 1;
            match c {
                '{' => {
                    self.depth += 1;
                    self.push(Tok::SetOpen)
                }
                '}' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.push(Tok::SetClose)
                }
                '\\' => self.push(Tok::RowSep),
                '|' => self.push(Tok::Sym('|')),
                ',' | '!' | ';' | ':' | ' ' | '$' | '%' | '(' | ')' | '[' | ']' => {
                    self.spaced = true
                }
                _ => return Err(ParseError::UnknownCommand(c.to_string())),
            }
            return Ok(());
        }
        let start = self.pos;
        while self.peek(0).is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        self.named_command(&name)
    }

    fn named_command(&mut self, name: &str) -> Result<(), ParseError> {
        if IGNORED.contains(&name) {
            self.spaced = true;
            return Ok(());
        }
        if TEXT_COMMANDS.contains(&name) {
            return self.text_argument();
        }
        let tok = match name {
            "begin" | "end" => {
                let env = self
                    .environment_name()
                    .ok_or(ParseError::Malformed("\\begin/\\end"))?;
                if name == "begin" {
                    Tok::Begin(env)
                } else {
                    Tok::End(env)
                }
            }
            "dfrac" | "tfrac" | "cfrac" => Tok::Cmd("frac".into()),
            "cdot" | "times" | "ast" => Tok::Sym('*'),
            "div" => Tok::Sym('/'),
            "leq" | "leqslant" => Tok::Cmd("le".into()),
            "geq" | "geqslant" => Tok::Cmd("ge".into()),
            "neq" => Tok::Cmd("ne".into()),
            "lt" => Tok::Sym('<'),
            "gt" => Tok::Sym('>'),
            "lvert" | "rvert" | "vert" | "mid" => Tok::Sym('|'),
            "lbrace" => Tok::SetOpen,
            "rbrace" => Tok::SetClose,
            "infin" => Tok::Cmd("infty".into()),
            _ => Tok::Cmd(name.to_string()),
        };
        self.push(tok);
        Ok(())
    }

    /// `{name}` after `\begin`/`\end`.
    fn environment_name(&mut self) -> Option<String> {
        while self.peek(0).is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        if self.peek(0) != Some('{') {
            return None;
        }
        let close = self.chars[self.pos..].iter().position(|&c| c == '}')?;
        let name: String = self.chars[self.pos + 1..self.pos + close].iter().collect();
        self.pos += close + 1;
        Some(name.trim().trim_end_matches('*').to_string())
    }

    /// `\text{…}`: words become [`Tok::Word`]s (a lone letter a [`Tok::Letter`]);
    /// anything else is read as math inside a `{…}` group.
    fn text_argument(&mut self) -> Result<(), ParseError> {
        while self.peek(0).is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        if self.peek(0) != Some('{') {
            return Err(ParseError::Malformed("\\text without {"));
        }
        let close = self.chars[self.pos + 1..]
            .iter()
            .position(|&c| c == '{' || c == '}');
        if let Some(len) = close.filter(|&len| self.chars[self.pos + 1 + len] == '}') {
            let content: String = self.chars[self.pos + 1..self.pos + 1 + len]
                .iter()
                .collect();
            let is_words = content
                .chars()
                .all(|c| c.is_alphabetic() || c.is_whitespace());
            if is_words && !content.trim().is_empty() {
                self.pos += len + 2;
                self.spaced = true;
                for word in content.split_whitespace() {
                    self.push_word(word);
                }
                self.spaced = true;
                return Ok(());
            }
        }
        self.pos += 1;
        self.push(Tok::Sym('{'));
        Ok(())
    }

    fn push_word(&mut self, word: &str) {
        let lower = word.to_lowercase();
        let mut chars = lower.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => self.push(Tok::Letter(c)),
            _ => self.push(Tok::Word(lower)),
        }
    }
}
