//! The scenario engine: declarative replays of the bank manuals' flows
//! (`scenarios/*.toml`) against the emulator or any PKCS#11 module.
//!
//! - [`model`]: the file format; [`load`]: parsing and validation with
//!   precise errors; [`vars`]: captured variables; [`clock`]: the scenario
//!   clock; [`provision`]: the token's starting content from
//!   `fixtures/provision/`; [`expect`]: per-module expectations files;
//!   [`runner`]: runs the steps against the token and the back-ends.

pub mod clock;
pub mod expect;
pub mod load;
pub mod model;
pub mod provision;
pub mod runner;
pub mod vars;

pub use load::{load_dir, load_file, load_str, LoadError};
pub use model::Scenario;
