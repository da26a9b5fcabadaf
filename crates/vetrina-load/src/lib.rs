//! Load generators for Vetrina's benchmarks. They run as a process of their own, so what they
//! measure is the server as clients see it.

pub mod peer;
pub mod room;
pub mod whep;
