//! The relay's RELAY key: given in the configuration, or as a file that
//! is read again whenever the relay connects.

use std::path::PathBuf;

use anyhow::{Context, bail};

/// Where the relay's RELAY key of the metrics service comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum IngestKey {
    /// The key itself (`metrics_ingest_key`).
    Value(String),
    /// A file holding the key (`metrics_ingest_key_file`), as Docker and
    /// Kubernetes mount secrets. It is read at every connection, so a key
    /// issued after the service started (the deployment's bootstrap does
    /// that) or rotated in place is used from the next connection on;
    /// while it is missing or empty, connecting fails and is retried like
    /// an unreachable metrics service.
    File(PathBuf),
}

impl IngestKey {
    /// The key as it is now; surrounding whitespace (the newline a file
    /// ends with) is not part of it.
    pub fn read(&self) -> anyhow::Result<String> {
        let key = match self {
            Self::Value(key) => key.trim().to_owned(),
            Self::File(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the relay's key file {}", path.display()))?
                .trim()
                .to_owned(),
        };
        if key.is_empty() {
            match self {
                Self::Value(_) => bail!("the relay's ingest key is empty"),
                Self::File(path) => bail!("the relay's key file {} is empty", path.display()),
            }
        }
        Ok(key)
    }
}

impl From<String> for IngestKey {
    fn from(key: String) -> Self {
        Self::Value(key)
    }
}

impl From<&str> for IngestKey {
    fn from(key: &str) -> Self {
        Self::Value(key.to_owned())
    }
}

/// Never shows the key itself.
impl std::fmt::Debug for IngestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_) => f.write_str("IngestKey::Value(..)"),
            Self::File(path) => write!(f, "IngestKey::File({})", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_read_anew_each_time_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics-ingest-key");
        let key = IngestKey::File(path.clone());

        let missing = key.read().unwrap_err();
        assert!(
            format!("{missing:#}").contains(&path.display().to_string()),
            "{missing:#}"
        );
        std::fs::write(&path, "").unwrap();
        assert!(format!("{:#}", key.read().unwrap_err()).contains("is empty"));

        std::fs::write(&path, "ing_first\n").unwrap();
        assert_eq!(key.read().unwrap(), "ing_first");
        std::fs::write(&path, "ing_rotated\n").unwrap();
        assert_eq!(key.read().unwrap(), "ing_rotated");
    }

    #[test]
    fn a_key_value_is_used_as_given_and_never_shown() {
        let key = IngestKey::from("ing_secret ");
        assert_eq!(key.read().unwrap(), "ing_secret");
        assert!(!format!("{key:?}").contains("ing_secret"));
        assert!(IngestKey::from("").read().is_err());
    }
}
