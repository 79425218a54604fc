//! Linear layers: the one place that decides how a weight matrix multiplies a vector.
