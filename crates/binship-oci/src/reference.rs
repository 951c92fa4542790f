//! Image references (`[registry/]repository[:tag|@digest]`) parsed once, with docker's
//! normalisation (distribution's `reference` grammar; `docker.io` and `library/` implied):
//! [`Reference`].

use std::fmt;

/// Docker Hub's registry name, implied when a reference names none.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` (normalised: `docker.io` when the reference named none).
    pub registry: String,
    /// The repository path (normalised: `library/x` for a one-part name on Docker Hub).
    pub repository: String,
    /// A tag, or a manifest digest (`sha256:...`) when addressed by digest.
    pub tag: String,
    /// Whether the reference named its registry.
    pub explicit_registry: bool,
}

/// A reference that the grammar refuses; the message names the reference and the part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reference `{reference}` {problem}")]
pub struct ReferenceError {
    pub reference: String,
    pub problem: String,
}

fn repo_re() -> regex::Regex {
    regex::Regex::new(
        r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$",
    )
    .expect("regex")
}

fn host_re() -> regex::Regex {
    regex::Regex::new(
        r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$",
    )
    .expect("regex")
}

/// A tag as the distribution grammar allows: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    regex::Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
        .expect("regex")
        .is_match(tag)
}

impl Reference {
    /// Parses with docker's rules: the first path part is a registry when it has a `.` or a
    /// `:` or is `localhost`; otherwise the registry is `docker.io`, and a one-part repository
    /// there is `library/<name>`. The tag is `default_tag` when none is given.
    ///
    /// # Errors
    /// [`ReferenceError`] naming what is wrong: repository name, tag, digest or host.
    pub fn parse_normalized(s: &str, default_tag: &str) -> Result<Reference, ReferenceError> {
        let bad = |m: &str| ReferenceError {
            reference: s.into(),
            problem: m.into(),
        };
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        let (registry, rest, explicit) = match name.split_once('/') {
            Some((h, rest)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_string(), rest, true)
            }
            _ => (DOCKER_HUB.to_string(), name, false),
        };
        if explicit && !host_re().is_match(&registry) {
            return Err(bad("has an invalid registry host"));
        }
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t)),
            _ => (rest, None),
        };
        if !repo_re().is_match(repository) || repository.len() > 255 {
            return Err(bad(
                "has an invalid repository name (lowercase, digits, . _ - separators)",
            ));
        }
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad("has an invalid tag"));
            }
        }
        let tag = match digest {
            Some(d) => {
                crate::Digest::parse(d)
                    .map_err(|_| bad("has an invalid digest (sha256:<64 hex>)"))?;
                d.to_string()
            }
            None => tag.unwrap_or(default_tag).to_string(),
        };
        if !valid_tag(&tag) && digest.is_none() {
            return Err(bad("has an invalid tag"));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            explicit_registry: explicit,
        })
    }

    /// Parses a reference that must name its registry (`host[:port]/path[:tag]`): what push
    /// and pull take, as no Docker Hub is implied there.
    ///
    /// # Errors
    /// [`ReferenceError`] as [`Reference::parse_normalized`], and for a missing host.
    pub fn parse(s: &str, default_tag: &str) -> Result<Reference, ReferenceError> {
        let bad = |m: &str| ReferenceError {
            reference: s.into(),
            problem: m.into(),
        };
        if !s.contains('/') {
            return Err(bad("needs a registry host: REGISTRY/REPO[:TAG]"));
        }
        let r = Reference::parse_normalized(s, default_tag)?;
        if !r.explicit_registry {
            return Err(bad(
                "needs a registry host (with a dot or a port, or localhost) before the first /",
            ));
        }
        Ok(r)
    }

    /// The same repository with another tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: tag.into(),
            ..self.clone()
        }
    }

    /// The same repository, addressed by a manifest digest instead of a tag.
    pub fn with_digest(&self, digest: &str) -> Reference {
        self.with_tag(digest)
    }

    /// Whether this reference addresses a digest rather than a tag.
    pub fn is_digest(&self) -> bool {
        self.tag.starts_with("sha256:")
    }

    /// `registry/repository`, without the tag.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// docker's short form: `docker.io/` and `library/` left out, as `docker images` shows it
    /// and as a docker-archive's `RepoTags` holds it (`go-id:v.1`).
    pub fn familiar(&self) -> String {
        let name = if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .filter(|r| !r.contains('/'))
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.repo()
        };
        let sep = if self.is_digest() { '@' } else { ':' };
        format!("{name}{sep}{}", self.tag)
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

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.is_digest() { '@' } else { ':' };
        write!(f, "{}/{}{sep}{}", self.registry, self.repository, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::Reference;

    #[test]
    fn docker_normalisation() {
        let r = Reference::parse_normalized("busybox", "latest").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        assert!(!r.explicit_registry);
        let r = Reference::parse_normalized("team/go-id:v.1", "latest").unwrap();
        assert_eq!(r.to_string(), "docker.io/team/go-id:v.1");
        assert_eq!(r.familiar(), "team/go-id:v.1");
        let r = Reference::parse_normalized("docker.io/library/go-id:v.1", "x").unwrap();
        assert_eq!(r.familiar(), "go-id:v.1");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse_normalized(&format!("localhost:5000/x@{d}"), "latest").unwrap();
        assert_eq!(r.tag, d);
        assert_eq!(r.to_string(), format!("localhost:5000/x@{d}"));
        for bad in [
            "Go-Id",
            "x:bad tag",
            "x@sha256:zz",
            "a//b",
            "x:.v1",
            "bad_host:5000/x",
        ] {
            assert!(Reference::parse_normalized(bad, "latest").is_err(), "{bad}");
        }
    }

    #[test]
    fn registry_references_parse_and_bad_ones_are_refused() {
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
            "team/go-id",
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
