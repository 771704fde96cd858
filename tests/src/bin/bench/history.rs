//! A long site history, made fast: `git fast-import` writes commits on top of
//! a site repository's head, each adding or changing one ApplicationDeployment
//! made from a real one (new UUID, device and greeting value), so the CO
//! indexes them at its next start as if it had written them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use edge_tests::co::git;

/// A generated deployment.
pub(crate) struct Generated {
    pub(crate) id: String,
    pub(crate) device: String,
}

/// splitmix64: deterministic, good enough to make ids and picks look random.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A version-4-shaped UUID.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

const GREETING: &str = "value: hello from edgectl wasm";

/// The template with its id, name, device and greeting replaced.
fn render(template: &str, template_id: &str, id: &str, device: &str, revision: usize) -> String {
    template
        .replace(template_id, id)
        .replace(&template_id[..8], &id[..8])
        .replacen("deviceId: edge-1", &format!("deviceId: {device}"), 1)
        .replacen(GREETING, &format!("{GREETING}, revision {revision}"), 1)
}

fn data(out: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
    writeln!(out, "data {}", bytes.len())?;
    out.write_all(bytes)?;
    writeln!(out)
}

/// Append `adds` commits adding one deployment each (to `devices`, in turn),
/// then `changes` commits each changing one of them, to the branch `HEAD` of
/// the non-bare repository `repo`. `template` is a real deployment of
/// `edge-1` with id `template_id`. Leaves the work tree and index behind
/// `HEAD` (the CO resets them at start; the index is removed so nothing
/// trusts it).
pub(crate) fn append(
    repo: &Path,
    template: &str,
    template_id: &str,
    devices: &[&str],
    adds: usize,
    changes: usize,
) -> Vec<Generated> {
    for must in [GREETING, "deviceId: edge-1", template_id] {
        assert!(
            template.contains(must),
            "the deployment template lacks `{must}`:\n{template}"
        );
    }
    let head = git(repo, &["rev-parse", "HEAD"]).trim().to_owned();
    let branch = git(repo, &["symbolic-ref", "HEAD"]).trim().to_owned();
    let mut rng = Rng(0x5eed);
    let generated: Vec<Generated> = (0..adds)
        .map(|g| Generated {
            id: rng.uuid(),
            device: devices[(g + 1) % devices.len()].to_owned(),
        })
        .collect();
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("git fast-import: {e}"));
    let stdin = child.stdin.take().expect("stdin of git fast-import");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdin);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut revisions = vec![0usize; adds];
    let mut commit = |n: usize, g: usize, message: &str, revision: usize| {
        let d = &generated[g];
        let yaml = render(template, template_id, &d.id, &d.device, revision);
        let mut head_line = format!(
            "commit {branch}\ncommitter edged co <edged@localhost> {} +0000\n",
            start + n as u64
        );
        let _ = write!(head_line, "data {}\n{message}\n", message.len());
        if n == 0 {
            let _ = writeln!(head_line, "from {head}");
        }
        let _ = writeln!(head_line, "M 100644 inline deployments/{}.yaml", d.id);
        out.write_all(head_line.as_bytes())
            .and_then(|()| data(&mut out, yaml.as_bytes()))
            .unwrap_or_else(|e| panic!("git fast-import: {e}"));
    };
    for (g, d) in generated.iter().enumerate() {
        let msg = format!(
            "deploy hello-wasm 1.0.0 (wasm) to {} at site plant-1\n\nby: admin token\ndeployments:\n  {}",
            d.device, d.id
        );
        commit(g, g, &msg, 0);
    }
    for n in adds..adds + changes {
        let g = (rng.next() % adds as u64) as usize;
        revisions[g] += 1;
        let msg = format!(
            "change {} (revision {})\n\nby: bench",
            generated[g].id, revisions[g]
        );
        commit(n, g, &msg, revisions[g]);
    }
    out.flush()
        .unwrap_or_else(|e| panic!("git fast-import: {e}"));
    drop(out);
    let status = child
        .wait()
        .unwrap_or_else(|e| panic!("git fast-import: {e}"));
    assert!(status.success(), "git fast-import failed");
    let _ = std::fs::remove_file(repo.join(".git/index"));
    generated
}
