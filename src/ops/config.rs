//! Configuration read once per container from the environment.

use std::env;

/// The environment variable naming the persons table.
pub const PERSONS_TABLE_ENV: &str = "PERSONS_TABLE";
/// The environment variable naming the API clients table.
pub const CLIENTS_TABLE_ENV: &str = "CLIENTS_TABLE";

/// The environment variable that turns the init-phase connection off: `DYNAMODB_PRECONNECT=off`.
pub const PRECONNECT_ENV: &str = "DYNAMODB_PRECONNECT";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub persons_table: String,
    pub clients_table: String,
    /// Open the DynamoDB connection during init (default on).
    pub preconnect: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("environment variable {0} must be set to a DynamoDB table name")]
pub struct MissingSetting(pub &'static str);

impl Config {
    pub fn from_env() -> Result<Config, MissingSetting> {
        Ok(Config {
            persons_table: required(PERSONS_TABLE_ENV)?,
            clients_table: required(CLIENTS_TABLE_ENV)?,
            preconnect: !env::var(PRECONNECT_ENV)
                .is_ok_and(|v| matches!(v.trim(), "off" | "0" | "false")),
        })
    }
}

fn required(name: &'static str) -> Result<String, MissingSetting> {
    env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(MissingSetting(name))
}
