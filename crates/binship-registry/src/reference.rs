//! Image references: [`Reference`] (`registry/repo[:tag]`), checked against the distribution
//! grammar, and the scheme rules (HTTPS, or plain HTTP for loopback and `--insecure`).

use crate::RegistryError;

/// `registry/repo[:tag]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl Reference {
    /// Parses `host[:port]/path[:tag]`; the host part is required (no Docker Hub default).
    pub fn parse(s: &str, default_tag: &str) -> Result<Reference, RegistryError> {
        let bad = |m: &str| RegistryError::BadReference(format!("reference `{s}` {m}"));
        let (registry, rest) = s
            .split_once('/')
            .ok_or_else(|| bad("needs a registry host: REGISTRY/REPO[:TAG]"))?;
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(bad(
                "needs a registry host (with a dot or a port, or localhost) before the first /",
            ));
        }
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (rest, default_tag),
        };
        let name = regex::Regex::new(
            r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$",
        )
        .expect("regex");
        if !name.is_match(repository) || repository.len() > 255 {
            return Err(bad(
                "has an invalid repository name (lowercase, digits, . _ - separators)",
            ));
        }
        if !valid_tag(tag) {
            return Err(bad("has an invalid tag"));
        }
        Ok(Reference {
            registry: registry.into(),
            repository: repository.into(),
            tag: tag.into(),
        })
    }

    /// The same repository with another tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: tag.into(),
            ..self.clone()
        }
    }

    /// The same repository, addressed by a manifest digest instead of a tag (the "tag" of a
    /// reference is whatever follows `/manifests/`).
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            tag: digest.into(),
            ..self.clone()
        }
    }

    /// `registry/repository`, without the tag.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Whether plain HTTP may be tried: loopback registries (as docker allows) or `insecure`.
    pub fn plain_allowed(&self, insecure: bool) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => self.registry.split(':').next().unwrap_or(""),
        };
        insecure
            || host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// A tag as the distribution grammar allows.
pub fn valid_tag(tag: &str) -> bool {
    regex::Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
        .expect("regex")
        .is_match(tag)
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::Reference;

    #[test]
    fn references_parse_and_bad_ones_are_refused() {
        let r = Reference::parse("127.0.0.1:5000/team/go-id:v.2", "latest").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "team/go-id", "v.2")
        );
        assert_eq!(
            Reference::parse("localhost/go-id", "v.1").unwrap().tag,
            "v.1"
        );
        for bad in [
            "go-id",
            "go-id:v1",
            "127.0.0.1:5000/Go-Id",
            "127.0.0.1:5000/go-id:bad tag",
            "127.0.0.1:5000/",
            "127.0.0.1:5000/a//b",
            "127.0.0.1:5000/go-id:.v1",
        ] {
            assert!(Reference::parse(bad, "latest").is_err(), "{bad}");
        }
        let plain = |s: &str| Reference::parse(s, "x").unwrap().plain_allowed(false);
        assert!(plain("127.0.0.1:5000/go-id"));
        assert!(plain("127.1.2.3:5000/go-id"));
        assert!(plain("[::1]:5000/go-id"));
        assert!(plain("localhost:5000/go-id"));
        assert!(!plain("registry.example/go-id"));
        assert!(!plain("127.example.com:5000/go-id"));
        assert!(Reference::parse("registry.example/go-id", "x")
            .unwrap()
            .plain_allowed(true));
    }
}
