//! Carrying a branch's history between two repositories on the local file
//! system with no network and no `git` program: the site repository written
//! to a USB stick, and taken from the stick into a Local Orchestrator's
//! mirror.
//!
//! Every object is read from the source and written into the target's object
//! database, which names it by the hash of what it holds: an object whose
//! bytes were changed on the stick gets another name, so it is found missing
//! and the carry is refused before any reference moves. Only what the target
//! lacks is written (a walk stops at the first commit it has), and the
//! target's branch moves last, so an interrupted carry leaves it where it was.

use std::collections::HashSet;
use std::path::Path;

use gix::ObjectId;
use gix::objs::Write as _;

use super::{GitError, describe, open_options};

/// Most objects one carry takes in: a bound on what a stick can make a
/// Local Orchestrator write.
const MAX_OBJECTS: usize = 2_000_000;

/// What a carry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The commit the target's branch names now (hex).
    pub head: String,
    /// The commit it named before, if any.
    pub before: Option<String>,
    /// Objects written (0 when it had everything).
    pub objects: usize,
}

fn open(dir: &Path) -> Result<gix::Repository, GitError> {
    gix::open_opts(dir, open_options()).map_err(|err| GitError::Open {
        path: dir.to_owned(),
        detail: describe(&err),
    })
}

fn failed<'a>(dir: &'a Path, action: &'static str) -> impl Fn(gix::Error) -> GitError + 'a {
    move |err| GitError::Repository {
        action,
        path: dir.to_owned(),
        detail: describe(&err),
    }
}

/// The commit `reference` names in `repo`, if it exists.
fn tip(repo: &gix::Repository, dir: &Path, reference: &str) -> Result<Option<ObjectId>, GitError> {
    let found = repo
        .try_find_reference(reference)
        .map_err(failed(dir, "read a branch"))?;
    Ok(found.and_then(|r| r.target().try_id().map(ToOwned::to_owned)))
}

/// Whether `ancestor` is in the history of `of` in `repo`.
fn reaches(
    repo: &gix::Repository,
    dir: &Path,
    of: ObjectId,
    ancestor: ObjectId,
) -> Result<bool, GitError> {
    if of == ancestor {
        return Ok(true);
    }
    let walk = repo
        .rev_walk([of])
        .all()
        .map_err(failed(dir, "walk the history"))?;
    for info in walk {
        if info.map_err(failed(dir, "walk the history"))?.id == ancestor {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Copy every object reachable from `head` in `from` that `to` lacks.
fn copy_objects(
    from: &gix::Repository,
    from_dir: &Path,
    to: &gix::Repository,
    to_dir: &Path,
    head: ObjectId,
) -> Result<usize, GitError> {
    let mut pending = vec![head];
    let mut seen = HashSet::new();
    let mut written = 0;
    while let Some(id) = pending.pop() {
        if !seen.insert(id) || to.has_object(id) {
            continue;
        }
        if seen.len() > MAX_OBJECTS {
            return Err(GitError::Repository {
                action: "carry the history",
                path: from_dir.to_owned(),
                detail: format!("it holds more than {MAX_OBJECTS} objects"),
            });
        }
        let object = from
            .find_object(id)
            .map_err(|e| corrupt(from_dir, id, &describe(&e)))?;
        match object.kind {
            gix::object::Kind::Commit => {
                let commit = object.clone().into_commit();
                let decoded = commit
                    .decode()
                    .map_err(|e| corrupt(from_dir, id, &e.to_string()))?;
                pending.push(decoded.tree());
                pending.extend(decoded.parents());
            }
            gix::object::Kind::Tree => {
                let tree = object.clone().into_tree();
                let decoded = tree
                    .decode()
                    .map_err(|e| corrupt(from_dir, id, &e.to_string()))?;
                for e in &decoded.entries {
                    // Submodule links name commits of other repositories.
                    if !e.mode.is_commit() {
                        pending.push(e.oid.to_owned());
                    }
                }
            }
            gix::object::Kind::Blob | gix::object::Kind::Tag => {}
        }
        let got = to
            .objects
            .write_buf(object.kind, &object.data)
            .map_err(|e| GitError::Repository {
                action: "write an object",
                path: to_dir.to_owned(),
                detail: e.to_string(),
            })?;
        if got != id {
            return Err(corrupt(
                from_dir,
                id,
                &format!("its content hashes to {got}"),
            ));
        }
        written += 1;
    }
    Ok(written)
}

fn corrupt(dir: &Path, id: ObjectId, detail: &str) -> GitError {
    GitError::Repository {
        action: "read an object it names",
        path: dir.to_owned(),
        detail: format!(
            "object {id} is missing or damaged ({detail}); the copy there cannot be trusted"
        ),
    }
}

/// Carry `from`'s branch `from_ref` into `to`'s branch `to_ref`, whatever
/// `to` had (a stick being written: it holds what the CO says now).
///
/// # Errors
/// When either repository cannot be read or written, or `from` has no such
/// branch.
pub fn carry(from: &Path, from_ref: &str, to: &Path, to_ref: &str) -> Result<Carried, GitError> {
    carry_checked(from, from_ref, to, to_ref, false)
}

/// Like [`carry`], but only a fast-forward: `to`'s branch must be in the
/// history of `from`'s, so an older copy or a rewritten history is refused.
///
/// # Errors
/// As [`carry`], and [`GitError::NotForward`] when it would not be a fast-forward.
pub fn carry_forward(
    from: &Path,
    from_ref: &str,
    to: &Path,
    to_ref: &str,
) -> Result<Carried, GitError> {
    carry_checked(from, from_ref, to, to_ref, true)
}

fn carry_checked(
    from_dir: &Path,
    from_ref: &str,
    to_dir: &Path,
    to_ref: &str,
    forward_only: bool,
) -> Result<Carried, GitError> {
    let from = open(from_dir)?;
    let to = open(to_dir)?;
    let Some(head) = tip(&from, from_dir, from_ref)? else {
        return Err(GitError::Repository {
            action: "find the branch to carry",
            path: from_dir.to_owned(),
            detail: format!("it has no `{from_ref}`"),
        });
    };
    let before = tip(&to, to_dir, to_ref)?;
    if before == Some(head) {
        return Ok(Carried {
            head: head.to_string(),
            before: before.map(|b| b.to_string()),
            objects: 0,
        });
    }
    if forward_only && let Some(have) = before {
        // `have` must be in the offered history; when the offered commit is in
        // ours instead, the copy is simply older than what is here.
        let newer = from.has_object(have) && reaches(&from, from_dir, head, have)?;
        if !newer {
            let older = to.has_object(head) && reaches(&to, to_dir, have, head)?;
            return Err(GitError::NotForward {
                path: from_dir.to_owned(),
                have: have.to_string(),
                offered: head.to_string(),
                older,
            });
        }
    }
    let objects = copy_objects(&from, from_dir, &to, to_dir, head)?;
    // Moved only from where it was seen, so a concurrent move is not lost.
    let expect = match (forward_only, before) {
        (false, _) => gix::refs::transaction::PreviousValue::Any,
        (true, Some(b)) => {
            gix::refs::transaction::PreviousValue::MustExistAndMatch(gix::refs::Target::Object(b))
        }
        (true, None) => gix::refs::transaction::PreviousValue::MustNotExist,
    };
    to.reference(to_ref, head, expect, "carried from a local copy")
        .map_err(failed(to_dir, "move the branch"))?;
    Ok(Carried {
        head: head.to_string(),
        before: before.map(|b| b.to_string()),
        objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Repo;
    use crate::git::testkit::{author, git, write};

    const MAIN: &str = "refs/heads/main";

    fn bare(dir: &Path) {
        gix::ThreadSafeRepository::init_opts(
            dir,
            gix::create::Kind::Bare,
            gix::create::Options::default(),
            open_options(),
        )
        .unwrap();
    }

    fn commit(repo: &Repo, file: &str, text: &str) {
        write(repo.work_tree(), file, text);
        repo.commit_all(&format!("change {file}"), &author())
            .unwrap();
    }

    #[test]
    fn a_history_goes_to_a_stick_and_on_as_a_fast_forward_only() {
        let dir = tempfile::tempdir().unwrap();
        let site = Repo::init_or_open(&dir.path().join("site")).unwrap();
        commit(&site, "deployments/a.yaml", "a: 1\n");
        let stick = dir.path().join("stick.git");
        bare(&stick);
        let lo = dir.path().join("lo.git");
        bare(&lo);
        let site_git = dir.path().join("site/.git");

        let first = carry(&site_git, MAIN, &stick, MAIN).unwrap();
        assert!(first.objects >= 3, "{first:?}");
        let into_lo = carry_forward(&stick, MAIN, &lo, MAIN).unwrap();
        assert_eq!(
            (into_lo.head.as_str(), into_lo.before),
            (first.head.as_str(), None)
        );
        assert_eq!(
            git(&lo, &["cat-file", "-p", "main:deployments/a.yaml"]),
            "a: 1\n"
        );
        // Again: nothing to do.
        assert_eq!(carry_forward(&stick, MAIN, &lo, MAIN).unwrap().objects, 0);

        // The next export adds only what changed.
        let old_stick = dir.path().join("old.git");
        bare(&old_stick);
        carry(&site_git, MAIN, &old_stick, MAIN).unwrap();
        commit(&site, "deployments/b.yaml", "b: 2\n");
        let second = carry(&site_git, MAIN, &stick, MAIN).unwrap();
        assert_eq!(
            second.objects, 4,
            "commit, root tree, folder tree, one blob"
        );
        carry_forward(&stick, MAIN, &lo, MAIN).unwrap();
        assert_eq!(git(&lo, &["rev-parse", "main"]).trim(), second.head);

        // An older stick: refused, and says so.
        let e = carry_forward(&old_stick, MAIN, &lo, MAIN).unwrap_err();
        assert!(e.to_string().contains("is older than what is here"), "{e}");
        assert_eq!(git(&lo, &["rev-parse", "main"]).trim(), second.head);

        // A rewritten history (another root): refused.
        let other = Repo::init_or_open(&dir.path().join("other")).unwrap();
        commit(&other, "deployments/a.yaml", "forged\n");
        let e = carry_forward(&dir.path().join("other/.git"), MAIN, &lo, MAIN).unwrap_err();
        assert!(
            e.to_string().contains("does not continue what is here"),
            "{e}"
        );
        assert_eq!(git(&lo, &["rev-parse", "main"]).trim(), second.head);
    }

    #[test]
    fn a_changed_object_on_the_stick_is_refused_and_nothing_moves() {
        let dir = tempfile::tempdir().unwrap();
        let site = Repo::init_or_open(&dir.path().join("site")).unwrap();
        commit(&site, "deployments/a.yaml", "a: 1\n");
        let stick = dir.path().join("stick.git");
        bare(&stick);
        let lo = dir.path().join("lo.git");
        bare(&lo);
        carry(&dir.path().join("site/.git"), MAIN, &stick, MAIN).unwrap();
        // Replace the blob's loose object with another object's bytes.
        let blob = git(&stick, &["rev-parse", "main:deployments/a.yaml"]);
        let blob = blob.trim();
        let tree = git(&stick, &["rev-parse", "main^{tree}"]);
        let objects = stick.join("objects");
        let at = |id: &str| objects.join(&id[..2]).join(&id[2..]);
        std::fs::remove_file(at(blob)).unwrap();
        std::fs::copy(at(tree.trim()), at(blob)).unwrap();
        let e = carry_forward(&stick, MAIN, &lo, MAIN).unwrap_err();
        assert!(e.to_string().contains("cannot be trusted"), "{e}");
        let lo_repo = open(&lo).unwrap();
        assert_eq!(
            tip(&lo_repo, &lo, MAIN).unwrap(),
            None,
            "the branch did not move"
        );
    }
}
