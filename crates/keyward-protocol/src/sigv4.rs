//! SigV4 (being written)
