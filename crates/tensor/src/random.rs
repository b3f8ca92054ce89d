//! Seeded random generators (Philox 4x32-10, see `tiny_torch_core::philox`).
