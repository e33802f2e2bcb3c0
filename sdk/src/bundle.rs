//! The entry point of a bundle executable: `<bundle> dags` lists its DAGs as JSON, and
//! `<bundle> run` (what the supervisor executes) runs the task described on fd 0.

use std::process::ExitCode;

use airlock_protocol::dag::BundleDefinition;

use crate::dag::Dag;

/// A set of DAGs built into one executable.
pub struct Bundle {
    name: String,
    version: Option<String>,
    dags: Vec<Dag>,
}

impl Bundle {
    /// A bundle named `name` (its executable's file name in the bundles directory).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: None,
            dags: Vec::new(),
        }
    }

    /// Its version.
    pub fn version(mut self, v: impl Into<String>) -> Self {
        self.version = Some(v.into());
        self
    }

    /// Adds a DAG.
    pub fn dag(mut self, dag: Dag) -> Self {
        self.dags.push(dag);
        self
    }

    /// What `dags` prints.
    pub fn definition(&self) -> Result<BundleDefinition, String> {
        Ok(BundleDefinition {
            bundle: self.name.clone(),
            version: self.version.clone(),
            dags: self
                .dags
                .iter()
                .map(Dag::definition)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Dispatches on the command line; call from `main`.
    pub fn main(self) -> ExitCode {
        let arg = std::env::args().nth(1);
        match arg.as_deref() {
            Some("dags") => match self.definition() {
                Ok(def) => match serde_json::to_string_pretty(&def) {
                    Ok(json) => {
                        println!("{json}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        ExitCode::FAILURE
                    }
                },
                Err(e) => {
                    eprintln!("invalid DAG: {e}");
                    ExitCode::FAILURE
                }
            },
            Some("run") => crate::runtime::run(&self.dags),
            _ => {
                eprintln!(
                    "usage: {} dags   print the DAGs of bundle {:?} as JSON\n       {0} run    run a task (started by `supervisor run`)",
                    std::env::args().next().unwrap_or_else(|| self.name.clone()),
                    self.name
                );
                ExitCode::from(2)
            }
        }
    }
}
