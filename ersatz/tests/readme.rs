//! README.md's "Embedding ersatz" quotes code that the build compiles, so
//! that it cannot rot: its first Rust block is `examples/ping.rs` from its
//! first `use` on (an example: built by `cargo test`, run in the lab by
//! tests/tests/embed.rs), its second the `no_run` doctest of the
//! `interface` module (compiled by `cargo test --doc`). Each must be the
//! same text, line for line.

use std::path::Path;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ```rust blocks of the section of `markdown` under `heading`.
fn rust_blocks(markdown: &str, heading: &str) -> Vec<String> {
    let start = markdown
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has no {heading:?}"));
    let section = &markdown[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line) {
            (None, "```rust") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The code of the first doctest in `source`'s `//!` comments, without
/// its hidden (`# `) lines.
fn module_doctest(source: &str) -> String {
    let mut lines = source
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .skip_while(|l| !l.starts_with("```"))
        .skip(1);
    let mut code = String::new();
    for line in lines.by_ref() {
        if line == "```" {
            return code;
        }
        if !line.starts_with("# ") {
            code.push_str(line);
            code.push('\n');
        }
    }
    panic!("the module doctest does not end")
}

#[test]
fn readme_embedding_quotes_what_is_compiled() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = read(&crate_dir.join("../README.md"));
    let blocks = rust_blocks(&readme, "## Embedding ersatz\n");
    assert!(blocks.len() >= 2, "{blocks:#?}");

    let example = read(&crate_dir.join("examples/ping.rs"));
    let from_use = &example[example
        .find("\nuse ")
        .expect("examples/ping.rs has a `use`")
        + 1..];
    assert_eq!(
        blocks[0], from_use,
        "README's first block is not examples/ping.rs"
    );

    let interface = read(&crate_dir.join("src/interface/mod.rs"));
    assert_eq!(
        blocks[1],
        module_doctest(&interface),
        "README's second block is not the interface module's doctest"
    );
}
