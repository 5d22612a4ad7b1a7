//! The secrets `talent up` keeps in its data folder: created on first run,
//! readable by the owner only, reused afterwards.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// File name inside the data folder.
pub const FILE: &str = "secrets.toml";

/// Everything secret the all-in-one deployment needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Secrets {
    /// Bearer token of the recruiting service's AdminService.
    pub recruiting_admin_key: String,
    /// Bearer token of the metrics service's AdminService.
    pub metrics_admin_key: String,
    /// The city secret behind person keys (HMAC-SHA256), shared by both services.
    pub person_key_secret: String,
    /// The metrics service's secret behind the record keys of disclosure
    /// control; added to an older file on its next read.
    #[serde(default)]
    pub record_key_secret: String,
    /// 32-byte key (hex) encrypting personal data at rest in recruiting.
    pub encryption_key: String,
    /// The metrics RELAY key the relay uses; issued on first start. (The
    /// name is from when it was an INGEST key; such a key became a RELAY
    /// key by migration, so an older file keeps working.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_ingest_key: Option<String>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

impl Secrets {
    fn generate() -> Self {
        Self {
            recruiting_admin_key: format!("adm_{}", random_hex(24)),
            metrics_admin_key: format!("adm_{}", random_hex(24)),
            person_key_secret: random_hex(32),
            record_key_secret: random_hex(32),
            encryption_key: random_hex(32),
            relay_ingest_key: None,
        }
    }

    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE)
    }

    /// Reads the secrets of `data_dir`, creating them on first run.
    /// Returns whether they were created now.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<(Self, bool)> {
        let path = Self::path(data_dir);
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut secrets: Self = toml::from_str(&text)
                .with_context(|| format!("{} is not a valid secrets file", path.display()))?;
            // A file written before the record-key secret existed gets one,
            // generated like the others and kept from then on.
            if secrets.record_key_secret.is_empty() {
                secrets.record_key_secret = random_hex(32);
                secrets.save(data_dir)?;
            }
            return Ok((secrets, false));
        }
        let secrets = Self::generate();
        secrets.save(data_dir)?;
        Ok((secrets, true))
    }

    /// Writes the file with mode 0600 (owner only).
    pub fn save(&self, data_dir: &Path) -> anyhow::Result<()> {
        let path = Self::path(data_dir);
        let text = format!(
            "# Secrets of this talent deployment. Keep private; losing person_key_secret or\n\
             # encryption_key makes existing data unreadable or unmatched.\n{}",
            toml::to_string(self)?
        );
        let tmp = path.with_extension("toml.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = Secrets::load_or_create(dir.path()).unwrap();
        assert!(created);
        assert_eq!(first.encryption_key.len(), 64);
        assert_eq!(first.record_key_secret.len(), 64);
        let (again, created) = Secrets::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Secrets::path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn an_older_file_gets_a_record_key_secret_once() {
        let dir = tempfile::tempdir().unwrap();
        let (mut old, _) = Secrets::load_or_create(dir.path()).unwrap();
        old.record_key_secret = String::new();
        let text = toml::to_string(&old).unwrap();
        assert!(text.contains("record_key_secret = \"\""));
        std::fs::write(
            Secrets::path(dir.path()),
            text.replace("record_key_secret = \"\"\n", ""),
        )
        .unwrap();
        let (upgraded, created) = Secrets::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(upgraded.record_key_secret.len(), 64);
        assert_eq!(upgraded.person_key_secret, old.person_key_secret);
        let (again, _) = Secrets::load_or_create(dir.path()).unwrap();
        assert_eq!(again, upgraded);
    }
}
