//! One error type for the whole core, so every failure names what went wrong
//! (the file or the argument) and, where it can, how to fix it.

use std::path::PathBuf;

/// Everything that can go wrong in the `shared` crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its contents are not what its format promises
    /// (wrong magic, truncated, out-of-bounds offsets, …).
    #[error("{}: {msg}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// The input is well-formed but uses something we do not support
    /// (an architecture, a tensor type, a tokenizer model, …).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A caller-supplied argument is invalid (an empty prompt, a prompt longer
    /// than the context, an unknown token id, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A model could not be found or fetched; the message says what to run or
    /// where to put the file.
    #[error("{0}")]
    ModelSource(String),
    /// The GPU could not be used (no driver, no such device, a CUDA call
    /// failed); the message says what was tried and what to do.
    #[error("{0}")]
    Device(String),
    /// A chat template does not compile, or raised an error while rendering
    /// (minijinja's message, with the line it points at).
    #[error("chat template of {name}: {msg}")]
    ChatTemplate {
        /// Whose template (a model name or file).
        name: String,
        /// What went wrong.
        msg: String,
    },
    /// A computation produced NaN or an infinity (a training step's loss or gradient); the
    /// message says where, and nothing computed from it was kept.
    #[error("{0}")]
    NonFinite(String),
    /// The user stopped a long run (Ctrl-C) after its work was saved; the
    /// message says where and how to continue.
    #[error("{0}")]
    Interrupted(String),
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for a [`Error::Format`] error about `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }

    /// Shorthand for an [`Error::Io`] error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
