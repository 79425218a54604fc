//! Model sources: resolving a model name or path to files (cache, download, checksums).
