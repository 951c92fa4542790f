//! Builders and testers: turns a [`binship_recipe::Recipe`] into an [`Artifact`] (a static
//! binary, checked by parsing its ELF) and runs the recipe's tests on it into a [`TestReport`].
//!
//! The flow is `Builder::prerequisites` -> `Builder::fetch_deps` -> `Builder::build` ->
//! [`artifact::collect`] (copy, hash, static check) -> [`tester::run_tests`].

pub mod artifact;
pub mod builders;
pub mod elf;
pub mod env;
pub mod error;
pub mod files;
pub mod probe;
pub mod process;
pub mod sandbox;
pub mod source;
pub mod tester;

pub use artifact::Artifact;
pub use builders::{builder_for, BuildContext, Builder, Toolchain};
pub use elf::BinaryInfo;
pub use error::BuildError;
pub use process::Cancel;
pub use source::SourceState;
pub use tester::{TestCase, TestReport};
