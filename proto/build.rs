//! Compiles every `.proto` under `talent/` with protox (pure Rust, so no
//! `protoc` binary is needed anywhere) and generates prost messages and tonic
//! clients and servers. The encoded descriptor set is kept for reflection.
//!
//! `google/rpc/error_details.proto` is compiled too, though no talent file
//! imports it: error responses carry its messages (`BadRequest`,
//! `ErrorInfo`, ...) packed in `Any`, and a client that knows the contracts
//! only through reflection must be able to resolve them by name.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// The error detail messages, served by reflection (their Rust types come
/// from `tonic-types`, like `google.rpc.Status`'s).
const ERROR_DETAILS: &str = "google/rpc/error_details.proto";

fn proto_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            proto_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    proto_files(&root.join("talent"), &mut files)?;
    // Sorted so that the generated code and the descriptor set do not depend
    // on the order in which the file system lists the directory.
    files.sort();
    let mut relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&root).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;
    relative.push(PathBuf::from(ERROR_DETAILS));

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&relative)?;
    let fds = compiler.file_descriptor_set();

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("talent_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // RPCs that a later milestone implements answer UNIMPLEMENTED.
        .generate_default_stubs(true)
        .extern_path(".google.rpc", "::tonic_types::pb")
        .include_file("_includes.rs")
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;

    println!("cargo:rerun-if-changed=talent");
    println!("cargo:rerun-if-changed=google");
    Ok(())
}
