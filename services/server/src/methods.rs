//! The methods a server serves, known at start from the descriptor sets of
//! the services it was given. A call's metrics are labelled with its method
//! when the server serves it and with `unknown` otherwise, so the request
//! path, which any client can make up, never becomes a label.

use std::{collections::HashSet, sync::Arc};

use anyhow::Context;
use prost::Message;
use prost_types::FileDescriptorSet;

/// The label of every call to a method the server does not serve.
pub const UNKNOWN: &str = "unknown";

/// The paths (`/package.Service/Method`) of the methods a server serves.
#[derive(Debug, Clone)]
pub struct Methods {
    paths: HashSet<Arc<str>>,
    unknown: Arc<str>,
}

impl Methods {
    /// Every method of `services` (full names), found in the encoded
    /// `descriptor_sets`. A service missing from them is an error: it
    /// would be counted as `unknown`.
    pub fn of(services: &[&str], descriptor_sets: &[&[u8]]) -> anyhow::Result<Self> {
        let mut declared = Vec::new();
        for set in descriptor_sets {
            let set = FileDescriptorSet::decode(*set).context("decoding a descriptor set")?;
            for file in set.file {
                for service in &file.service {
                    let name = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    declared.push((name, service.method.clone()));
                }
            }
        }
        let mut paths = HashSet::new();
        for wanted in services {
            let (name, methods) = declared
                .iter()
                .find(|(name, _)| name == wanted)
                .with_context(|| format!("no descriptor declares the service {wanted}"))?;
            for method in methods {
                paths.insert(Arc::from(format!("/{name}/{}", method.name())));
            }
        }
        Ok(Self {
            paths,
            unknown: Arc::from(UNKNOWN),
        })
    }

    /// Every path served.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(|p| &**p)
    }

    /// The metrics label of a call to `path`.
    pub fn label(&self, path: &str) -> Arc<str> {
        self.paths
            .get(path)
            .cloned()
            .unwrap_or_else(|| self.unknown.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_methods_are_their_own_label_and_anything_else_is_unknown() {
        let methods = Methods::of(
            &["grpc.health.v1.Health"],
            &[tonic_health::pb::FILE_DESCRIPTOR_SET],
        )
        .unwrap();
        assert_eq!(
            &*methods.label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(
            &*methods.label("/grpc.health.v1.Health/Watch"),
            "/grpc.health.v1.Health/Watch"
        );
        for made_up in [
            "/grpc.health.v1.Health/Nope",
            "/grpc.health.v1.Health",
            "/x.Y/Check",
            "",
            "/grpc.health.v1.Health/Check/",
        ] {
            assert_eq!(&*methods.label(made_up), UNKNOWN, "{made_up:?}");
        }
    }

    #[test]
    fn a_service_without_a_descriptor_is_an_error() {
        let err = Methods::of(
            &["talent.nothing.v1.NoService"],
            &[tonic_health::pb::FILE_DESCRIPTOR_SET],
        )
        .unwrap_err();
        assert!(err.to_string().contains("talent.nothing.v1.NoService"));
    }
}
