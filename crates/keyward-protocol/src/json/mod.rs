//! AWS JSON 1.1 codec (being written)
