//! The objects a few new commits add to a straight history, found by
//! comparing each new commit's tree with its parent's path by path: what
//! the CO hands an LO with its nudge (`GET /lo/v1/watch`) so the LO's
//! mirror moves without a Git fetch ([`objects_after`]), and how the LO
//! takes them in ([`receive_after`]): every object checked against its id,
//! everything the new head names present, and the branch moved only from
//! the commit the objects were computed against. Anything unusual (a merge,
//! a long gap, too many bytes, a branch that moved meanwhile) is left to a
//! Git fetch.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use gix::ObjectId;

use super::carry::{self, LooseObject};
use super::{GitError, describe};

/// How much one [`objects_after`] may gather: commits and object bytes.
#[derive(Debug, Clone, Copy)]
pub struct DeltaLimits {
    /// New commits at most (first-parent, no merges).
    pub commits: usize,
    /// Sum of the objects' sizes at most.
    pub bytes: usize,
}

fn failed<'a>(dir: &'a Path, action: &'static str) -> impl Fn(gix::Error) -> GitError + 'a {
    move |err| GitError::Repository {
        action,
        path: dir.to_owned(),
        detail: describe(&err),
    }
}

/// Gathers objects until the byte limit is passed.
struct Gather<'a> {
    repo: &'a gix::Repository,
    dir: &'a Path,
    out: Vec<LooseObject>,
    seen: HashSet<ObjectId>,
    bytes: usize,
    limit: usize,
}

impl Gather<'_> {
    /// Add object `id`; `false` once over the limit.
    fn add(&mut self, id: ObjectId) -> Result<(gix::object::Kind, Vec<u8>, bool), GitError> {
        let o = self
            .repo
            .find_object(id)
            .map_err(|e| failed(self.dir, "read an object")(e))?;
        let (kind, data) = (o.kind, o.data.clone());
        if self.seen.insert(id) {
            self.bytes += data.len();
            self.out.push(LooseObject {
                id: id.to_string(),
                kind: carry::kind_name(kind).to_owned(),
                data: data.clone(),
            });
        }
        Ok((kind, data, self.bytes <= self.limit))
    }

    /// Add tree `new` and whatever it holds that `old` (the tree at the
    /// same path in the parent commit) does not hold at the same path.
    fn tree(&mut self, new: ObjectId, old: Option<ObjectId>) -> Result<bool, GitError> {
        if Some(new) == old || self.seen.contains(&new) {
            return Ok(true);
        }
        let (_, data, within) = self.add(new)?;
        if !within {
            return Ok(false);
        }
        let before: HashMap<Vec<u8>, (bool, ObjectId)> = match old {
            Some(old) => {
                let o = self
                    .repo
                    .find_object(old)
                    .map_err(|e| failed(self.dir, "read a tree")(e))?;
                entries(&o.data, self.repo.object_hash(), self.dir)?
            }
            None => HashMap::new(),
        };
        for (name, (is_tree, oid)) in entries(&data, self.repo.object_hash(), self.dir)? {
            let base = before.get(&name);
            if base.is_some_and(|b| b.1 == oid) {
                continue;
            }
            let within = if is_tree {
                self.tree(oid, base.filter(|b| b.0).map(|b| b.1))?
            } else if self.seen.contains(&oid) {
                true
            } else {
                self.add(oid)?.2
            };
            if !within {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A tree's entries by name: (is a tree, id); submodule links left out.
fn entries(
    data: &[u8],
    hash: gix::hash::Kind,
    dir: &Path,
) -> Result<HashMap<Vec<u8>, (bool, ObjectId)>, GitError> {
    let tree = gix::objs::TreeRef::from_bytes(data, hash).map_err(|e| GitError::Repository {
        action: "read a tree",
        path: dir.to_owned(),
        detail: e.to_string(),
    })?;
    Ok(tree
        .entries
        .iter()
        .filter(|e| !e.mode.is_commit())
        .map(|e| (e.filename.to_vec(), (e.mode.is_tree(), e.oid.to_owned())))
        .collect())
}

/// The head of `branch_ref` in the repository at `dir` and the objects a
/// copy holding commit `have` (and everything before it) lacks, when the
/// branch went straight on from `have` by at most `limits.commits` commits
/// and those objects hold at most `limits.bytes`; `None` otherwise (fetch
/// with Git then). Objects an older commit had may come again.
///
/// # Errors
/// When the repository cannot be read.
pub fn objects_after(
    dir: &Path,
    branch_ref: &str,
    have: &str,
    limits: DeltaLimits,
) -> Result<Option<(String, Vec<LooseObject>)>, GitError> {
    let repo = carry::open(dir)?;
    let Some(head) = carry::tip(&repo, dir, branch_ref)? else {
        return Ok(None);
    };
    let Ok(have) = ObjectId::from_hex(have.as_bytes()) else {
        return Ok(None);
    };
    // The new commits, newest first, each with its one parent.
    let mut chain = Vec::new();
    let mut at = head;
    while at != have {
        if chain.len() >= limits.commits {
            return Ok(None);
        }
        let commit = repo
            .find_commit(at)
            .map_err(|e| failed(dir, "read a commit")(e))?;
        let mut parents = commit.parent_ids();
        let (Some(parent), None) = (parents.next(), parents.next()) else {
            return Ok(None);
        };
        chain.push((at, parent.detach()));
        at = parent.detach();
    }
    let mut g = Gather {
        repo: &repo,
        dir,
        out: Vec::new(),
        seen: HashSet::new(),
        bytes: 0,
        limit: limits.bytes,
    };
    let tree_of = |id: ObjectId| -> Result<ObjectId, GitError> {
        repo.find_commit(id)
            .and_then(|c| c.tree_id())
            .map(gix::Id::detach)
            .map_err(|e| failed(dir, "read a commit")(e))
    };
    for &(commit, parent) in chain.iter().rev() {
        if !g.add(commit)?.2 || !g.tree(tree_of(commit)?, Some(tree_of(parent)?))? {
            return Ok(None);
        }
    }
    Ok(Some((head.to_string(), g.out)))
}

/// Write `objects` into the repository at `dir`, each checked against its
/// id, and, once everything `head` names is there, move `branch_ref` from
/// `base` to `head`; refused (nothing moves) when the branch is not at
/// `base`.
///
/// # Errors
/// As [`carry::receive_objects`], and when the branch is not at `base`.
pub fn receive_after(
    dir: &Path,
    objects: impl IntoIterator<Item = LooseObject>,
    branch_ref: &str,
    base: &str,
    head: &str,
) -> Result<carry::Carried, GitError> {
    let base = ObjectId::from_hex(base.as_bytes()).map_err(|_| GitError::UnknownCommit {
        rev: base.to_owned(),
    })?;
    carry::receive(
        dir,
        objects,
        branch_ref,
        head,
        gix::refs::transaction::PreviousValue::MustExistAndMatch(gix::refs::Target::Object(base)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Repo;
    use crate::git::testkit::{author, git, write};

    const MAIN: &str = "refs/heads/main";
    const WIDE: DeltaLimits = DeltaLimits {
        commits: 8,
        bytes: 1 << 20,
    };

    fn commit(repo: &Repo, file: &str, text: &str) -> String {
        write(repo.work_tree(), file, text);
        repo.commit_all(&format!("change {file}"), &author())
            .unwrap()
            .unwrap()
            .id
    }

    #[test]
    fn only_what_changed_travels_and_the_branch_moves_only_from_its_base() {
        let dir = tempfile::tempdir().unwrap();
        let site = Repo::init_or_open(&dir.path().join("site")).unwrap();
        let site_git = dir.path().join("site/.git");
        commit(&site, "deployments/a.yaml", "a: 1\n");
        let first = commit(&site, "deployments/b.yaml", "b: 1\n");
        let mirror = dir.path().join("mirror.git");
        let (head, all) = carry::objects_since(&site_git, MAIN, None).unwrap();
        carry::receive_objects(&mirror, all, MAIN, &head.unwrap()).unwrap();

        // One change: its commit, the root and folder trees, the one new blob.
        let second = commit(&site, "deployments/a.yaml", "a: 2\n");
        let (head, objects) = objects_after(&site_git, MAIN, &first, WIDE)
            .unwrap()
            .unwrap();
        assert_eq!(head, second);
        assert_eq!(objects.len(), 4, "{objects:?}");
        // Two more at once, one of them bringing back an old blob.
        commit(&site, "other/c.yaml", "c: 1\n");
        let fourth = commit(&site, "deployments/a.yaml", "a: 1\n");
        let (_, later) = objects_after(&site_git, MAIN, &second, WIDE)
            .unwrap()
            .unwrap();
        // Too small a limit, or too far back: left to a fetch.
        let tight = DeltaLimits {
            commits: 1,
            bytes: 1 << 20,
        };
        assert!(
            objects_after(&site_git, MAIN, &second, tight)
                .unwrap()
                .is_none()
        );
        let few = DeltaLimits {
            commits: 8,
            bytes: 10,
        };
        assert!(
            objects_after(&site_git, MAIN, &first, few)
                .unwrap()
                .is_none()
        );

        // Taken in from the wrong base: refused, nothing moves.
        let e = receive_after(&mirror, later.clone(), MAIN, &second, &fourth).unwrap_err();
        assert!(!e.to_string().is_empty());
        assert_eq!(git(&mirror, &["rev-parse", "main"]).trim(), first);
        // In order: the mirror holds exactly what the site holds.
        receive_after(&mirror, objects, MAIN, &first, &second).unwrap();
        receive_after(&mirror, later, MAIN, &second, &fourth).unwrap();
        assert_eq!(git(&mirror, &["rev-parse", "main"]).trim(), fourth);
        assert_eq!(
            git(&mirror, &["cat-file", "-p", "main:other/c.yaml"]),
            "c: 1\n"
        );
        git(&mirror, &["fsck", "--strict"]);

        // A missing blob: refused before the branch moves.
        let fifth = commit(&site, "deployments/d.yaml", "d: 1\n");
        let (_, mut missing) = objects_after(&site_git, MAIN, &fourth, WIDE)
            .unwrap()
            .unwrap();
        missing.retain(|o| o.kind != "blob");
        assert!(receive_after(&mirror, missing, MAIN, &fourth, &fifth).is_err());
        assert_eq!(git(&mirror, &["rev-parse", "main"]).trim(), fourth);
    }
}
