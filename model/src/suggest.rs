//! "Did you mean": the known name nearest to a mistyped one, for errors
//! about apps, sites, devices and contexts. Pure; the caller brings the
//! names it knows.
//!
//! Near means few single-character edits (insert, delete, replace, or two
//! neighbours swapped) for the length of the word, or the same word apart
//! from case, dashes and underscores (`plant1` for `plant-1`). Nothing is
//! suggested when nothing is near: a wrong guess is worse than none.

/// The candidate nearest to `typed`, if any is near enough.
#[must_use]
pub fn did_you_mean<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let folded = fold(typed);
    let allowed = (typed.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .filter(|c| *c != typed)
        .filter_map(|c| {
            let d = if fold(c) == folded {
                0
            } else {
                edits(typed, c, allowed)?
            };
            Some((d, c))
        })
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Lower case, without `-`, `_`, `.` and spaces.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Edits from `a` to `b` (optimal string alignment), when at most `limit`.
fn edits(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit || a.len() > 256 || b.len() > 256 {
        return None;
    }
    // Three rows: two back (for swaps), the last, this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            row[j] = d;
        }
        before = std::mem::replace(&mut last, row);
    }
    let d = last[b.len()];
    (d <= limit).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn a_typo_finds_the_nearest_name() {
        let names = ["plant-1", "plant-2", "lab", "hello-wasm", "hello-process"];
        assert_eq!(did_you_mean("plant1", names), Some("plant-1"));
        assert_eq!(did_you_mean("Plant-2", names), Some("plant-2"));
        assert_eq!(did_you_mean("helo-wasm", names), Some("hello-wasm"));
        assert_eq!(did_you_mean("hello-wsam", names), Some("hello-wasm"));
        assert_eq!(did_you_mean("lba", names), Some("lab"));
    }

    #[test]
    fn nothing_near_suggests_nothing() {
        let names = ["plant-1", "lab"];
        assert_eq!(did_you_mean("warehouse", names), None);
        assert_eq!(did_you_mean("x", names), None);
        assert_eq!(did_you_mean("plant-1", ["plant-1"]), None);
        assert_eq!(did_you_mean("a", std::iter::empty()), None);
    }

    #[test]
    fn long_or_odd_input_is_cheap_and_safe() {
        let long = "a".repeat(10_000);
        assert_eq!(did_you_mean(&long, ["a"]), None);
        assert_eq!(did_you_mean("é-1", ["é1", "e-1"]), Some("é1"));
    }
}
