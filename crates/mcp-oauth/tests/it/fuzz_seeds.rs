//! The committed fuzz seeds (`fuzz/seeds/<target>/*`) fed to the same entry
//! points the fuzz targets use (`mcp_oauth::fuzzing`), on the stable
//! toolchain: a change that breaks what a seed checks fails here, without
//! nightly or cargo-fuzz. The crate's dev-dependency on itself turns the
//! `fuzzing` feature on for its tests.

use std::{
    any::Any,
    collections::BTreeSet,
    fs,
    panic::{self, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use mcp_oauth::fuzzing;

/// One test per fuzz target, named after it, replaying its seeds through
/// `mcp_oauth::fuzzing::<target>`; `TARGETS` lists them all.
macro_rules! seed_tests {
    ($($target:ident),+ $(,)?) => {
        const TARGETS: &[&str] = &[$(stringify!($target)),+];
        $(
            #[test]
            fn $target() {
                replay(stringify!($target), fuzzing::$target);
            }
        )+
    };
}

seed_tests!(
    challenge,
    resource_metadata,
    auth_server_metadata,
    registration_response,
    token_response,
    callback_request,
    sse_stream,
);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The names of the entries of `dir` that `keep` accepts, sorted.
fn names(dir: &Path, keep: impl Fn(&Path) -> Option<String>) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| entry.unwrap_or_else(|error| panic!("{}: {error}", dir.display())))
        .filter_map(|entry| keep(&entry.path()))
        .collect()
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(a panic without a message)")
}

/// Feeds every file in `fuzz/seeds/<name>` to `target`; fails when the
/// folder is missing or holds no seed, and names every seed that panicked.
fn replay(name: &str, target: fn(&[u8])) {
    let shown = format!("fuzz/seeds/{name}");
    let dir = fuzz_dir().join("seeds").join(name);
    assert!(dir.is_dir(), "seed folder {shown} is missing");
    let mut seeds: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {shown}: {error}"))
        .map(|entry| entry.expect("a seed folder entry").path())
        .filter(|path| path.is_file())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "seed folder {shown} holds no seed");

    let mut failed = Vec::new();
    for seed in &seeds {
        let file = format!("{shown}/{}", seed.file_name().unwrap_or_default().display());
        let data = fs::read(seed).unwrap_or_else(|error| panic!("cannot read {file}: {error}"));
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| target(&data))) {
            failed.push(format!("{file}: {}", panic_message(payload.as_ref())));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} seeds of {name} panicked:\n{}",
        failed.len(),
        seeds.len(),
        failed.join("\n")
    );
}

/// A fuzz target or seed folder added without an entry in `seed_tests!`
/// would go unreplayed: the three lists must agree.
#[test]
fn every_fuzz_target_has_its_seeds_replayed() {
    let listed: BTreeSet<String> = TARGETS.iter().map(|name| name.to_string()).collect();
    let sources = names(&fuzz_dir().join("fuzz_targets"), |path| {
        (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
    });
    let seed_dirs = names(&fuzz_dir().join("seeds"), |path| {
        path.is_dir()
            .then(|| path.file_name()?.to_str().map(str::to_owned))?
    });
    assert_eq!(sources, listed, "fuzz/fuzz_targets/*.rs against TARGETS");
    assert_eq!(seed_dirs, listed, "fuzz/seeds/* against TARGETS");
}
