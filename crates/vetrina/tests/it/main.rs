//! Vetrina's integration tests: one binary, one module per area. Every story runs twice, on
//! SQLite and on the PostgreSQL at 127.0.0.1:5432 (each run in its own schema), through real
//! HTTP against a server bound to port 0.

mod harness;

mod accounts;
mod authz;
mod bad_input;
mod browser;
mod catalogue;
mod cli;
mod live;
mod media;
mod nodes;
mod replays;
mod shop;
mod shows;
