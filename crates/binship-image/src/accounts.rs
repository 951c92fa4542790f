//! The users and groups of an image, [`Accounts`]: a base's `/etc/passwd`, `/etc/group` and
//! `/etc/shadow` read once (the caller resolves symlinks inside the base's root, as
//! [`crate::import::View::read`] does), the image's user added when the base lacks it, and the
//! files rendered back with every line of the base kept as it was (passwd(5), group(5),
//! shadow(5)).

use crate::error::BadSetting;

/// One `/etc/passwd` line's fields binship reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// The user an image runs as, to be made known to its `/etc/passwd` and `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    /// The name to give a new entry (`--user root|nonroot` names one; a numeric `uid:gid` takes
    /// the app's name, see [`default_name`]).
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The user asked for this name: a uid or name held otherwise is an error, not a reuse.
    pub named: bool,
}

/// What [`Accounts::ensure`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ensured {
    /// The user's name in the image (an existing entry's when the base had the uid).
    pub user: String,
    /// The group's name in the image.
    pub group: String,
    /// A home directory to create (`/home/NAME`, owned by the user, 0700): set when a passwd
    /// entry was added.
    pub new_home: Option<String>,
    /// A uid or gid the base already held under another name (used as it is, and said).
    pub notes: Vec<String>,
}

/// The account files of a base, parsed once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    passwd: Vec<String>,
    group: Vec<String>,
    shadow: Option<Vec<String>>,
    changed: bool,
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

fn field(line: &str, i: usize) -> Option<&str> {
    line.split(':').nth(i)
}

fn id(line: &str, i: usize) -> Option<u32> {
    field(line, i)?.parse().ok()
}

/// A deterministic user name for an app (passwd names start with a letter or `_` and hold at
/// most 32 of `a-z 0-9 _ -`): `go-id` -> `go-id`, `7zip` -> `app-7zip`, `a.b` -> `a-b`.
pub fn default_name(app: &str) -> String {
    let mut n: String = app
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            _ => '-',
        })
        .collect();
    if !n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        n = format!("app-{n}");
    }
    n.chars().take(32).collect()
}

impl Accounts {
    /// The accounts of a base from its files' contents (`None`: the base has no such file).
    pub fn parse(passwd: Option<&[u8]>, group: Option<&[u8]>, shadow: Option<&[u8]>) -> Self {
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        Accounts {
            passwd: lines(&text(passwd).unwrap_or_default()),
            group: lines(&text(group).unwrap_or_default()),
            shadow: text(shadow).map(|s| lines(&s)),
            changed: false,
        }
    }

    /// The passwd entries (lines with fewer than 4 fields or a bad id are skipped).
    pub fn users(&self) -> Vec<PasswdEntry> {
        self.passwd
            .iter()
            .filter_map(|l| {
                Some(PasswdEntry {
                    name: field(l, 0)?.to_string(),
                    uid: id(l, 2)?,
                    gid: id(l, 3)?,
                    home: field(l, 5).unwrap_or("").to_string(),
                })
            })
            .collect()
    }

    /// The name of `uid` in passwd.
    pub fn user_name(&self, uid: u32) -> Option<String> {
        self.users()
            .into_iter()
            .find(|u| u.uid == uid)
            .map(|u| u.name)
    }

    /// The name of `gid` in group.
    pub fn group_name(&self, gid: u32) -> Option<String> {
        self.group
            .iter()
            .find(|l| id(l, 2) == Some(gid))
            .and_then(|l| field(l, 0))
            .map(str::to_string)
    }

    /// The gid of group `name` (e.g. `shadow`, which owns /etc/shadow on Debian).
    pub fn gid_of(&self, name: &str) -> Option<u32> {
        self.group
            .iter()
            .find(|l| field(l, 0) == Some(name))
            .and_then(|l| id(l, 2))
    }

    /// Makes `u` known: a passwd entry (home `/home/NAME`, shell `/sbin/nologin`), a group
    /// entry, and a locked shadow entry when the base has `/etc/shadow` (PAM account checks
    /// need one). Entries the base has are kept; a root entry is added when passwd has none.
    ///
    /// # Errors
    /// [`BadSetting`]: `u.named` and its uid belongs to another name; the name exists with
    /// another uid; or a group of that name exists with another gid.
    pub fn ensure(&mut self, u: &ImageUser) -> Result<Ensured, BadSetting> {
        let users = self.users();
        let mut out = Ensured::default();
        let by_uid = users.iter().find(|e| e.uid == u.uid);
        let by_name = users.iter().find(|e| e.name == u.name);
        // A line of that name binship cannot read (a bad uid): never a second entry beside it.
        if by_name.is_none()
            && self
                .passwd
                .iter()
                .any(|l| field(l, 0) == Some(u.name.as_str()))
        {
            return Err(BadSetting(format!(
                "/etc/passwd: the entry for `{}` is malformed (its uid or gid is not a number)",
                u.name
            )));
        }
        match (by_uid, by_name) {
            (Some(e), _) if e.name == u.name => out.user = e.name.clone(),
            (Some(e), _) if u.named => {
                return Err(BadSetting(format!(
                    "/etc/passwd: uid {} is taken by `{}`; choose another --user",
                    u.uid, e.name
                )))
            }
            (Some(e), _) => {
                out.notes.push(format!(
                    "uid {} is `{}` in the base's /etc/passwd: the image runs as {}",
                    u.uid, e.name, e.name
                ));
                out.user = e.name.clone();
            }
            (None, Some(e)) => {
                return Err(BadSetting(format!(
                    "/etc/passwd: user `{}` exists with uid {}; choose --user {}:{}",
                    u.name, e.uid, e.uid, e.gid
                )))
            }
            (None, None) => {
                if !users.iter().any(|e| e.uid == 0) && u.uid != 0 {
                    self.passwd
                        .insert(0, "root:x:0:0:root:/root:/sbin/nologin".into());
                }
                let home = if u.uid == 0 {
                    "/root".to_string()
                } else {
                    format!("/home/{}", u.name)
                };
                self.passwd.push(format!(
                    "{n}:x:{}:{}:{n}:{home}:/sbin/nologin",
                    u.uid,
                    u.gid,
                    n = u.name
                ));
                if let Some(sh) = &mut self.shadow {
                    if !sh.iter().any(|l| field(l, 0) == Some(u.name.as_str())) {
                        sh.push(format!("{}:!*:::::::", u.name));
                    }
                }
                out.user = u.name.clone();
                out.new_home = (u.uid != 0).then_some(home);
                self.changed = true;
            }
        }
        match self.group_name(u.gid) {
            Some(g) => {
                if g != u.name && g != out.user && !u.named && u.gid != 0 {
                    out.notes.push(format!(
                        "gid {} is group `{g}` in the base's /etc/group",
                        u.gid
                    ));
                }
                out.group = g;
            }
            None => {
                if let Some(other) = self.gid_of(&u.name) {
                    return Err(BadSetting(format!(
                        "/etc/group: group `{}` exists with gid {other}; choose --user {}:{other}",
                        u.name, u.uid
                    )));
                }
                // (a base whose gid 0 is named otherwise, e.g. `wheel`, keeps it)
                if self.group_name(0).is_none() && u.gid != 0 {
                    self.group.insert(0, "root:x:0:".into());
                }
                self.group.push(format!("{}:x:{}:", u.name, u.gid));
                out.group = u.name.clone();
                self.changed = true;
            }
        }
        Ok(out)
    }

    /// Whether [`Accounts::ensure`] added anything (the files must then be written).
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// The files' new contents: passwd, group, and shadow when the base has one.
    pub fn render(&self) -> (String, String, Option<String>) {
        let join = |ls: &[String]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
        (
            join(&self.passwd),
            join(&self.group),
            self.shadow.as_deref().map(join),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Accounts {
        Accounts::parse(
            Some(b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh"),
            Some(b"root:x:0:\napp:x:1000:\nshadow:x:42:"),
            Some(b"root:*:19000:0:99999:7:::\n"),
        )
    }

    fn user(name: &str, uid: u32, gid: u32, named: bool) -> ImageUser {
        ImageUser {
            name: name.into(),
            uid,
            gid,
            named,
        }
    }

    #[test]
    fn a_new_user_is_added_and_the_base_kept() {
        let mut a = base();
        let e = a.ensure(&user("tiny", 2000, 2000, false)).unwrap();
        assert_eq!((e.user.as_str(), e.group.as_str()), ("tiny", "tiny"));
        assert_eq!(e.new_home.as_deref(), Some("/home/tiny"));
        let (p, g, s) = a.render();
        assert!(
            p.starts_with("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
            "{p}"
        );
        assert!(
            p.ends_with("tiny:x:2000:2000:tiny:/home/tiny:/sbin/nologin\n"),
            "{p}"
        );
        assert!(g.ends_with("tiny:x:2000:\n"), "{g}");
        assert!(s.unwrap().ends_with("tiny:!*:::::::\n"));
        assert_eq!(a.gid_of("shadow"), Some(42));
    }

    #[test]
    fn a_uid_held_under_another_name_is_said_or_refused() {
        let mut a = base();
        let e = a.ensure(&user("tiny", 1000, 1000, false)).unwrap();
        assert_eq!(e.user, "app");
        assert_eq!(e.group, "app");
        assert!(e.notes[0].contains("uid 1000 is `app`"), "{:?}", e.notes);
        assert!(!a.changed());
        let err = base()
            .ensure(&user("nonroot", 1000, 1000, true))
            .unwrap_err();
        assert!(err.0.contains("uid 1000 is taken by `app`"), "{err}");
        let err = base().ensure(&user("app", 3000, 3000, false)).unwrap_err();
        assert!(err.0.contains("user `app` exists with uid 1000"), "{err}");
    }

    #[test]
    fn the_base_is_kept_as_it_is() {
        // gid 0 named wheel: no second gid-0 group.
        let mut a = Accounts::parse(
            Some(b"toor:x:0:0::/root:/bin/sh\n"),
            Some(b"wheel:x:0:\n"),
            None,
        );
        a.ensure(&user("tiny", 1000, 1000, false)).unwrap();
        assert_eq!(a.render().1, "wheel:x:0:\ntiny:x:1000:\n");
        assert!(!a.render().0.lines().any(|l| l.starts_with("root:")));
        // A malformed entry of that name: refused, not duplicated.
        let mut a = Accounts::parse(
            Some(b"root:x:0:0::/root:/bin/sh\ntiny:x:abc:1::/:/bin/sh\n"),
            None,
            None,
        );
        let e = a.ensure(&user("tiny", 1000, 1000, false)).unwrap_err();
        assert!(e.0.contains("entry for `tiny` is malformed"), "{e}");
    }

    #[test]
    fn an_empty_base_gets_root_too() {
        let mut a = Accounts::parse(None, None, None);
        a.ensure(&user("tiny", 1000, 1000, false)).unwrap();
        let (p, g, s) = a.render();
        assert!(p.starts_with("root:x:0:0:"), "{p}");
        assert!(g.starts_with("root:x:0:\n"), "{g}");
        assert!(s.is_none());
    }

    #[test]
    fn default_names_are_valid_user_names() {
        assert_eq!(default_name("go-id"), "go-id");
        assert_eq!(default_name("7zip"), "app-7zip");
        assert_eq!(default_name("a.b"), "a-b");
        assert_eq!(default_name(&"x".repeat(40)).len(), 32);
    }
}
