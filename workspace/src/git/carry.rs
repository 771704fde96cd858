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

use super::{GitError, describe, open_options, repository_error};

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

pub(super) fn open(dir: &Path) -> Result<gix::Repository, GitError> {
    gix::open_opts(dir, open_options()).map_err(|err| GitError::Open {
        path: dir.to_owned(),
        detail: describe(&err),
    })
}

fn failed<'a>(dir: &'a Path, action: &'static str) -> impl Fn(gix::Error) -> GitError + 'a {
    move |err| repository_error(action, dir, &err)
}

/// The commit `reference` names in `repo`, if it exists.
pub(super) fn tip(
    repo: &gix::Repository,
    dir: &Path,
    reference: &str,
) -> Result<Option<ObjectId>, GitError> {
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

/// Receives each object a walk visits: (id, kind, bytes).
type Sink<'a> = dyn FnMut(ObjectId, gix::object::Kind, &[u8]) -> Result<(), GitError> + 'a;

/// Visit every object reachable from `head` in `from` that `known` does not
/// claim, handing each to `sink` as (id, kind, bytes). A walk does not go
/// below a known commit or tree.
fn walk_new(
    from: &gix::Repository,
    from_dir: &Path,
    head: ObjectId,
    known: &dyn Fn(ObjectId) -> bool,
    sink: &mut Sink<'_>,
) -> Result<usize, GitError> {
    let mut pending = vec![head];
    let mut seen = HashSet::new();
    let mut visited = 0;
    while let Some(id) = pending.pop() {
        if !seen.insert(id) || known(id) {
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
        sink(id, object.kind, &object.data)?;
        visited += 1;
    }
    Ok(visited)
}

/// Write one object into `to`, refusing bytes that do not hash to `id`.
fn put(
    to: &gix::Repository,
    to_dir: &Path,
    from_dir: &Path,
    id: ObjectId,
    kind: gix::object::Kind,
    data: &[u8],
) -> Result<(), GitError> {
    let got = to
        .objects
        .write_buf(kind, data)
        .map_err(|e| GitError::Repository {
            action: "write an object",
            path: to_dir.to_owned(),
            detail: e.to_string(),
        })?;
    if got == id {
        Ok(())
    } else {
        Err(corrupt(
            from_dir,
            id,
            &format!("its content hashes to {got}"),
        ))
    }
}

/// Refuse `head` of `from` unless it continues `have` of `to`.
fn forward(
    from: &gix::Repository,
    from_dir: &Path,
    to: &gix::Repository,
    to_dir: &Path,
    have: ObjectId,
    head: ObjectId,
) -> Result<(), GitError> {
    // `have` must be in the offered history; when the offered commit is in
    // ours instead, the copy is simply older than what is here.
    if from.has_object(have) && reaches(from, from_dir, head, have)? {
        return Ok(());
    }
    let older = to.has_object(head) && reaches(to, to_dir, have, head)?;
    Err(GitError::NotForward {
        path: from_dir.to_owned(),
        have: have.to_string(),
        offered: head.to_string(),
        older,
    })
}

/// The commit `reference` names in the repository at `dir` (hex), if any.
///
/// # Errors
/// When the repository cannot be read.
pub fn tip_of(dir: &Path, reference: &str) -> Result<Option<String>, GitError> {
    let repo = open(dir)?;
    Ok(tip(&repo, dir, reference)?.map(|id| id.to_string()))
}

/// Check, changing nothing, that `from`'s `from_ref` is a fast-forward of
/// `to`'s `to_ref` (or that `to` has no such branch yet).
///
/// # Errors
/// [`GitError::NotForward`] when it is not; read errors.
pub fn check_forward(
    from_dir: &Path,
    from_ref: &str,
    to_dir: &Path,
    to_ref: &str,
) -> Result<(), GitError> {
    let (from, to) = (open(from_dir)?, open(to_dir)?);
    let (Some(head), Some(have)) = (tip(&from, from_dir, from_ref)?, tip(&to, to_dir, to_ref)?)
    else {
        return Ok(());
    };
    if head == have {
        return Ok(());
    }
    forward(&from, from_dir, &to, to_dir, have, head)
}

/// Copy every object reachable from `head` in `from` that `to` lacks.
fn copy_objects(
    from: &gix::Repository,
    from_dir: &Path,
    to: &gix::Repository,
    to_dir: &Path,
    head: ObjectId,
) -> Result<usize, GitError> {
    walk_new(
        from,
        from_dir,
        head,
        &|id| to.has_object(id),
        &mut |id, kind, data| put(to, to_dir, from_dir, id, kind, data),
    )
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
        forward(&from, from_dir, &to, to_dir, have, head)?;
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

/// One object of a history as it travels between machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LooseObject {
    /// Its id (hex).
    pub id: String,
    /// `commit`, `tree`, `blob` or `tag`.
    pub kind: String,
    /// Its content (without the loose-object header).
    pub data: Vec<u8>,
}

pub(super) fn kind_name(kind: gix::object::Kind) -> &'static str {
    match kind {
        gix::object::Kind::Commit => "commit",
        gix::object::Kind::Tree => "tree",
        gix::object::Kind::Blob => "blob",
        gix::object::Kind::Tag => "tag",
    }
}

fn kind_of(name: &str) -> Option<gix::object::Kind> {
    Some(match name {
        "commit" => gix::object::Kind::Commit,
        "tree" => gix::object::Kind::Tree,
        "blob" => gix::object::Kind::Blob,
        "tag" => gix::object::Kind::Tag,
        _ => return None,
    })
}

/// The head of `branch_ref` in the repository at `dir` and the objects a
/// copy holding `have` (a commit of this history) lacks: all of them when
/// `have` is `None` or not in this history. Objects that only older commits
/// name may come again; a receiver skips what it has.
///
/// # Errors
/// When the repository cannot be read.
pub fn objects_since(
    dir: &Path,
    branch_ref: &str,
    have: Option<&str>,
) -> Result<(Option<String>, Vec<LooseObject>), GitError> {
    let repo = open(dir)?;
    let Some(head) = tip(&repo, dir, branch_ref)? else {
        return Ok((None, Vec::new()));
    };
    let mut known = HashSet::new();
    if let Some(have) = have.and_then(|h| ObjectId::from_hex(h.as_bytes()).ok())
        && repo.has_object(have)
        && reaches(&repo, dir, head, have)?
    {
        let walk = repo
            .rev_walk([have])
            .all()
            .map_err(failed(dir, "walk the history"))?;
        for info in walk {
            known.insert(info.map_err(failed(dir, "walk the history"))?.id);
        }
        let tree = repo
            .find_commit(have)
            .and_then(|c| c.tree_id())
            .map_err(failed(dir, "read a commit"))?
            .detach();
        walk_new(&repo, dir, tree, &|_| false, &mut |id, _, _| {
            known.insert(id);
            Ok(())
        })?;
    }
    let mut out = Vec::new();
    walk_new(
        &repo,
        dir,
        head,
        &|id| known.contains(&id),
        &mut |id, kind, data| {
            out.push(LooseObject {
                id: id.to_string(),
                kind: kind_name(kind).to_owned(),
                data: data.to_vec(),
            });
            Ok(())
        },
    )?;
    Ok((Some(head.to_string()), out))
}

/// Write `objects` into the bare repository at `dir` (made when missing),
/// each checked against its id, then, once everything `head` needs is
/// there, point `branch_ref` at it.
///
/// # Errors
/// When an object does not match its id, something `head` needs is
/// missing, or the repository cannot be written; the branch does not move.
pub fn receive_objects(
    dir: &Path,
    objects: impl IntoIterator<Item = LooseObject>,
    branch_ref: &str,
    head: &str,
) -> Result<Carried, GitError> {
    if !dir.join("HEAD").is_file() {
        super::Mirror::open_or_init(dir)?;
    }
    receive(
        dir,
        objects,
        branch_ref,
        head,
        gix::refs::transaction::PreviousValue::Any,
    )
}

/// [`receive_objects`] into an existing repository, the branch moved only
/// when it is as `expect` says.
pub(super) fn receive(
    dir: &Path,
    objects: impl IntoIterator<Item = LooseObject>,
    branch_ref: &str,
    head: &str,
    expect: gix::refs::transaction::PreviousValue,
) -> Result<Carried, GitError> {
    let repo = open(dir)?;
    let mut written = HashSet::new();
    for o in objects {
        let (Ok(id), Some(kind)) = (ObjectId::from_hex(o.id.as_bytes()), kind_of(&o.kind)) else {
            return Err(GitError::Repository {
                action: "take in an object",
                path: dir.to_owned(),
                detail: format!("`{} {}` is not an object name", o.kind, o.id),
            });
        };
        if !repo.has_object(id) {
            put(&repo, dir, dir, id, kind, &o.data)?;
            written.insert(id);
        }
    }
    let head_id = ObjectId::from_hex(head.as_bytes()).map_err(|_| GitError::UnknownCommit {
        rev: head.to_owned(),
    })?;
    // Everything the new head names must be here. What was here before was
    // checked when it came, so the walk stops there.
    let before_this = |id: ObjectId| !written.contains(&id) && repo.has_object(id);
    walk_new(&repo, dir, head_id, &before_this, &mut |_, _, _| Ok(()))?;
    let before = tip(&repo, dir, branch_ref)?;
    repo.reference(branch_ref, head_id, expect, "received")
        .map_err(failed(dir, "move the branch"))?;
    Ok(Carried {
        head: head.to_owned(),
        before: before.map(|b| b.to_string()),
        objects: written.len(),
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

    #[test]
    fn a_history_travels_as_objects_and_the_second_trip_carries_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let site = Repo::init_or_open(&dir.path().join("site")).unwrap();
        let site_git = dir.path().join("site/.git");
        commit(&site, "deployments/a.yaml", "a: 1\n");
        let (head, all) = objects_since(&site_git, MAIN, None).unwrap();
        let head = head.unwrap();
        assert_eq!(all.len(), 4, "commit, two trees, one blob");
        let stick = dir.path().join("stick.git");
        let got = receive_objects(&stick, all.clone(), MAIN, &head).unwrap();
        assert_eq!((got.objects, got.before), (4, None));

        commit(&site, "deployments/b.yaml", "b: 2\n");
        let (next, new) = objects_since(&site_git, MAIN, Some(&head)).unwrap();
        assert_eq!(new.len(), 4, "commit, two trees, the new blob: {new:?}");
        receive_objects(&stick, new.clone(), MAIN, next.as_deref().unwrap()).unwrap();
        assert_eq!(
            git(&stick, &["cat-file", "-p", "main:deployments/b.yaml"]),
            "b: 2\n"
        );

        // A missing object: the branch does not move.
        commit(&site, "deployments/c.yaml", "c: 3\n");
        let (last, mut more) = objects_since(&site_git, MAIN, next.as_deref()).unwrap();
        more.retain(|o| o.kind != "blob");
        let e = receive_objects(&stick, more, MAIN, last.as_deref().unwrap()).unwrap_err();
        assert!(e.to_string().contains("cannot be trusted"), "{e}");
        assert_eq!(git(&stick, &["rev-parse", "main"]).trim(), next.unwrap());
        // A forged one: refused.
        let forged = LooseObject {
            id: all[0].id.clone(),
            kind: "blob".into(),
            data: b"forged".to_vec(),
        };
        let other = dir.path().join("other.git");
        assert!(receive_objects(&other, [forged], MAIN, &head).is_err());
    }
}
